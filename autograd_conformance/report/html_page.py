"""The HTML report: one self-contained page, the claims x columns matrix with every failure's
message and rerun command. Its style sheet is package data (report.css), inlined into the page."""

from __future__ import annotations

import html
from pathlib import Path

from autograd_conformance.outcomes import BAD, LABEL, OUTCOMES, PASS, FAIL
from autograd_conformance.report.document import count, describe_counts, fraction

CSS = Path(__file__).with_name("report.css").read_text(encoding="utf-8")
CSS_CLASS = {o: "o-" + LABEL[o].lower().replace("/", "").replace(" ", "-") for o in OUTCOMES}


def _e(text) -> str:
    return html.escape(str(text if text is not None else ""))


def _tag(outcome: str) -> str:
    return f'<span class="tag {CSS_CLASS[outcome]}">{LABEL[outcome]}</span>'


def matrix_html(matrix: dict, title: str) -> str:
    cols, claims = matrix["columns"], matrix["claims"]
    counts = count(r["outcome"] for c in claims for r in c["results"].values())
    out = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>"
           f"<meta name=viewport content='width=device-width'><style>{CSS}</style></head><body>",
           f"<header><h1>{_e(title)}</h1><p class=meta>{len(claims)} claim"
           f"{'s' * (len(claims) != 1)} · {len(cols)} backend/device column{'s' * (len(cols) != 1)}"
           f" · generated {_e(matrix['generated'])}</p><div class=badges>",
           *(f'<span class="badge {CSS_CLASS[o]}">{counts[o]} {_e(o)}</span>'
             for o in OUTCOMES if counts[o] or o in (PASS, FAIL)),
           "</div></header><main>"]
    for c in cols:
        if not c["complete"]:
            out.append(f"<div class=warn><b>Incomplete run</b> ({_e(c['id'])}): "
                       f"{_e(c['incomplete_reason'])}</div>")
    out.append("<h2>Runs</h2><table class=runs><tr><th>Column</th><th>Engine</th><th>Device</th>"
               "<th>Machine</th><th>Python</th><th>Suite</th><th>Date</th></tr>")
    for c in cols:
        t = c["target"]
        machine = ", ".join(filter(None, [t["platform"], f"{t['cpu_count']} CPUs", *t["gpus"],
                                          t["cuda"] and f"CUDA {t['cuda']}"]))
        out.append(f"<tr><td>{_e(c['id'])}</td><td>{_e(c['backend'])} {_e(c['version'])}</td>"
                   f"<td>{_e(c['device'] or 'reference pipeline')}</td><td>{_e(machine)}</td><td>{_e(c['python'])}</td>"
                   f"<td>{_e(c['suite_version'])}</td><td>{_e(c['date'])}</td></tr>")
    out.append("</table><h2>Matrix</h2><table class=matrix><thead><tr><th>Claim</th>"
               "<th class=statement>Statement</th>")
    out += [f"<th>{_e(c['backend'])}<small>{_e(c['version'])} · {_e(c['device'] or 'reference pipeline')}</small></th>"
            for c in cols]
    out.append("</tr></thead><tbody>")
    failures, area = [], None
    for c in claims:
        if c["id"].split(".")[0] != area:
            area = c["id"].split(".")[0]
            out.append(f"<tr class=area><th colspan={len(cols) + 2}>{_e(area)}</th></tr>")
        level = "" if c["level"] == "semantics" else f" <span class=pill>{_e(c['level'])}</span>"
        if c.get("generalises"):
            level += " <span class=pill title='goes beyond what the seeds show'>the suite's generalisation</span>"
        out.append(f"<tr><th class=claim><a href='#claim-{_e(c['id'])}'><code>{_e(c['id'])}"
                   f"</code></a></th><td class=statement>{_e(c['statement'])}{level}</td>")
        for i, col in enumerate(cols):
            r = c["results"].get(col["id"])
            if r is None:
                out.append("<td class='cell o-none' title='not run'>·</td>")
                continue
            label = LABEL[r["outcome"]]
            if r["outcome"] in BAD:
                failures.append((f"fail-{c['id']}-{i}", c, col, r))
                label = f"<a href='#fail-{_e(c['id'])}-{i}'>{label}</a>"
            part = fraction(r["counts"])
            out.append(f"<td class='cell {CSS_CLASS[r['outcome']]}' "
                       f"title='{_e(describe_counts(r['counts']))}: {_e(r['summary'] or r['outcome'])}'>{label}"
                       f"{f'<small>{part} ran</small>' if part else ''}</td>")
        out.append("</tr>")
    out.append("</tbody></table><p class=legend>" + "".join(
        f"<span>{_tag(o)}{_e(o)}</span>" for o in OUTCOMES)
        + "<span><span class='tag o-none'>·</span>not run</span></p>")
    out.append(f"<h2>Failures ({len(failures)})</h2>" if failures else "<h2>Failures</h2><p>None.</p>")
    for anchor, c, col, r in failures:
        tests = "".join(f"<li>{_tag(t['outcome'])}<code>{_e(t['nodeid'])}</code></li>"
                        for t in r["tests"])
        out.append(f"<details id='{_e(anchor)}'><summary>{_tag(r['outcome'])}<code>{_e(c['id'])}"
                   f"</code> on {_e(col['id'])}: {_e(r['summary'])}</summary><div class=body>"
                   f"<p>{_e(c['statement'])} <a href='#claim-{_e(c['id'])}'>claim</a></p>"
                   f"<pre>{_e(r['message'])}</pre><p>Rerun: <code>{_e(r['rerun'])}</code></p>"
                   f"<ul class=results>{tests}</ul></div></details>")
    out.append("<h2>Claims</h2>")
    anchors = {(c["id"], col["id"]): anchor for anchor, c, col, _ in failures}
    for c in claims:
        results = []
        for col in cols:
            r = c["results"].get(col["id"])
            if r is None:
                continue
            name = _e(col["id"])
            if (c["id"], col["id"]) in anchors:
                name = f"<a href='#{_e(anchors[c['id'], col['id']])}'>{name}</a>"
            results.append(f"<li>{_tag(r['outcome'])}{name} "
                           f"<span class=level>({_e(describe_counts(r['counts']))})</span></li>")
        note = f"<p class=note>Seed note: {_e(c['seed_note'])}</p>" if c["seed_note"] else ""
        if c.get("generalises"):
            note += f"<p class=note>Beyond the seeds: {_e(c['generalises'])}</p>"
        out.append(f"<article id='claim-{_e(c['id'])}'><h3><code>{_e(c['id'])}</code> "
                   f"<span class=level>{_e(c['level'])}</span></h3><p>{_e(c['statement'])}</p>"
                   f"<p class=src>Seed: {_e('; '.join(c['source']))}</p>{note}"
                   f"<ul class=results>{''.join(results)}</ul></article>")
    out.append("</main></body></html>\n")
    return "\n".join(out)

