"""The Markdown reports: a run's summary (for a pull-request comment or $GITHUB_STEP_SUMMARY,
always under 65,000 characters), a matrix of runs, and the README's matrix block."""

from __future__ import annotations

import re
from pathlib import Path

from autograd_conformance.outcomes import BAD, FAIL, OUTCOMES, PASS, SYMBOL
from autograd_conformance.report.document import describe_counts, fraction

MD_LIMIT = 60_000  # GitHub comments and step summaries take 65,536 characters


def _code(text: str) -> str:
    """Inline code that survives backticks inside text."""
    fence = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if "`" in text else f"`{text}`"


def _md(text: str) -> str:
    """text with Markdown's special characters escaped (statements contain x * y)."""
    return re.sub(r"([\\`*_<>\[\]|#~])", r"\\\1", text)


def _one_line(text: str | None, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _fit(head: list[str], entries: list[str], what: str, limit: int = MD_LIMIT) -> str:
    """head + as many entries as fit under limit characters, with a note on the rest."""
    text = "\n".join(head)
    for i, entry in enumerate(entries):
        if len(text) + len(entry) + 300 > limit:
            return text + (f"\n\n_… {len(entries) - i} more {what} not shown "
                           "(see the JSON or HTML report)._\n")
        text += "\n" + entry
    return text + "\n"


def run_markdown(run: dict, limit: int = MD_LIMIT) -> str:
    backend, target = run["backend"], run["target"]
    failing = [c for c in run["claims"] if c["outcome"] in BAD]
    failing_other = [t for t in run["unclaimed"] if t["outcome"] in BAD]
    mark = "❌" if failing or failing_other else ("✅" if run["complete"] else "⚠️")
    machine = ", ".join(filter(None, [target["platform"], f"{target['cpu_count']} CPUs",
                                      *target["gpus"]]))
    head = [f"## {mark} Autograd conformance: {backend['name']} {backend['version']} "
            f"on {', '.join(run['devices']) or '-'}", "",
            f"Suite {run['suite']['version']} · {run['date']} · Python {run['python']} · "
            f"{machine}", ""]
    if not run["complete"]:
        head += [f"> ⚠️ **Incomplete run:** {run['incomplete_reason']}", ""]
    shown = [o for o in OUTCOMES if o in (PASS, FAIL) or any(
        run["totals"][k][o] for k in ("claims", "tests"))]
    head += ["| | " + " | ".join(f"{SYMBOL[o]} {o}" for o in shown) + " |",
             "|---|" + "---:|" * len(shown),
             "| claims (per device) | " + " | ".join(str(run["totals"]["claims"][o])
                                                    for o in shown) + " |",
             "| tests | " + " | ".join(str(run["totals"]["tests"][o]) for o in shown) + " |", ""]
    checked = [f"| `{c['id']}` | {c['device'] or 'reference pipeline'} | {SYMBOL[c['outcome']]} {c['outcome']} | "
               f"{_md(describe_counts(c['counts']))} |" for c in run["claims"]]
    claims_table = ["", "<details><summary>Every claim: how many of its tests ran</summary>", "",
                    "| claim | device | outcome | tests |", "|---|---|---|---|", *checked, "", "</details>", ""]
    if not failing and not failing_other:
        head.append("No failing claims." if run["claims"] else "No claim was checked.")
        return _fit(head + claims_table[:4], claims_table[4:], "claims", limit)
    head.append(f"### Failing claims ({len(failing)})" if failing else "")
    entries = [
        f"\n**{_code(c['id'])}** on `{c['device'] or 'the reference pipeline'}`: {SYMBOL[c['outcome']]} {c['outcome']} "
        f"({c['level']}{', the suite’s generalisation' if c.get('generalises') else ''})\n> {_md(_one_line(c['statement'], 600))}\n\n"
        f"Seed: {_md('; '.join(c['source'])) or '-'}  \nTests: {_md(describe_counts(c['counts']))}  \n"
        f"Message: {_code(_one_line(c['summary']))}  \n"
        f"Rerun: {_code(c['rerun'])}" for c in failing]
    entries += [f"\n**{_code(t['nodeid'])}** (no claim): {SYMBOL[t['outcome']]} {t['outcome']}  \n"
                f"Message: {_code(_one_line(t['summary']))}  \nRerun: {_code(t['rerun'])}"
                for t in failing_other]
    text = _fit(head, entries, "failures", limit - 20_000)
    return _fit([text.rstrip("\n"), *claims_table[:4]], claims_table[4:], "claims", limit)


def matrix_markdown(matrix: dict, title: str | None = "Conformance matrix",
                    limit: int = MD_LIMIT) -> str:
    cols = matrix["columns"]
    head = [f"### {title}", ""] if title else []
    head += [f"_{len(cols)} column(s), generated {matrix['generated']} by "
             "`python -m autograd_conformance.report merge`._", ""]
    header = " | ".join(f"{c['backend']} {c['version']}<br>{c['device'] or 'reference pipeline'}"
                        + ("" if c["complete"] else " ⚠️") for c in cols)
    head += [f"| Claim | {header} |", "|---|" + ":-:|" * len(cols)]
    rows, area = [], None
    for c in matrix["claims"]:
        if c["id"].split(".")[0] != area:
            area = c["id"].split(".")[0]
            rows.append(f"| **{area}** |" + " |" * len(cols))
        cells = [f"{SYMBOL[c['results'][col['id']]['outcome']]} {fraction(c['results'][col['id']]['counts'])}".strip()
                 if col["id"] in c["results"] else "·" for col in cols]
        mark = " †" if c.get("generalises") else ""
        rows.append(f"| `{c['id']}`{mark} | " + " | ".join(cells) + " |")
    legend = ["", " · ".join(f"{SYMBOL[o]} {o}" for o in OUTCOMES) + " · `·` not run · k/n: k of the "
              "claim's n tests reached a verdict there (the others were not applicable, blocked, too large)",
              "", "† the suite's generalisation: the claim goes beyond what the seeds show, on the documentation "
              "its entry names (claims.py, `generalises`); the others the seeds show or state."]
    if any(not c["complete"] for c in cols):
        legend.append("⚠️ after a column: that run was incomplete.")
    text = _fit(head, rows, "claims", limit - 600)
    return text + "\n".join(legend) + "\n"


def update_readme(path: Path, block: str) -> bool:
    start, end = "<!-- conformance-matrix:start -->", "<!-- conformance-matrix:end -->"
    text = path.read_text(encoding="utf-8")
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        return False
    path.write_text(text[:i + len(start)] + "\n" + block.strip() + "\n" + text[j:], encoding="utf-8")
    return True
