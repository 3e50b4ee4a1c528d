"""The benchmark chart: every workload's time relative to the reference, the within-run comparisons
and every workload's fraction of the matrix-product peak, as an SVG (log scale)."""

from __future__ import annotations

import html
import math

from autograd_conformance.benchmarks.report import _label, _ratio, _short, fmt_fraction, ratios


PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#9c755f")


def svg_chart(records: list[dict]) -> str:
    """A hand-written SVG: per workload one bar per backend · device, the ratio to the reference
    on a log scale, drawn from 1× (left: faster, right: slower); then the within-run comparisons;
    then each workload's fraction of its run's matrix-product peak, drawn from 100 %."""
    data = ratios(records)
    columns, workloads = data["columns"], data["workloads"]
    sections = []
    if data["reference"] is not None:
        sections.append((f"Median time relative to {_short(data['reference'])} (same workload)",
                         [(w, [(i, data["vs_reference"].get((w, c))) for i, c in enumerate(columns)
                               if (w, c) in data["cells"]]) for w in workloads], _ratio))
    if data["within"]:
        sections.append(("Within-run comparisons (workload / baseline, same backend · device)",
                         [(label, [(i, by_col.get(c)) for i, c in enumerate(columns) if c in by_col])
                          for label, _, _, by_col in data["within"]], _ratio))
    fractions = [(w, [(i, data["cells"][w, c]["fraction_of_peak"]) for i, c in enumerate(columns)
                      if data["cells"].get((w, c), {}).get("fraction_of_peak") is not None
                      and not data["cells"][w, c]["peak"]])  # a peak is the 100 % line itself
                 for w in workloads]
    fractions = [(w, bars) for w, bars in fractions if bars]
    if fractions:
        sections.append(("Fraction of the matrix-product peak (same backend · device, same run)",
                         fractions, fmt_fraction))
    values = [v for _, rows, _ in sections for _, bars in rows for _, v in bars if v]
    lo, hi = min(values + [1.0]) / 1.3, max(values + [1.0]) * 1.3
    lo, hi = min(lo, 0.5), max(hi, 2.0)
    label_w, plot_w, bar_h, gap, pad = 330, 520, 12, 8, 20
    x0 = label_w + pad

    def x(v: float) -> float:
        return x0 + (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * plot_w

    ticks = [m * 10 ** e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
             for m in (1, 2, 5) if lo <= m * 10 ** e <= hi]
    if len(ticks) > 12:
        ticks = [t for t in ticks if math.log10(t).is_integer()]
    parts, y = [], 30
    legend = [f"<rect x='{x0 + 170 * (i % 3)}' y='{y + 22 * (i // 3)}' width='12' height='12' "
              f"fill='{PALETTE[i % len(PALETTE)]}'/><text x='{x0 + 18 + 170 * (i % 3)}' "
              f"y='{y + 10 + 22 * (i // 3)}'>{html.escape(_label(c))}</text>"
              for i, c in enumerate(columns)]
    parts += legend
    y += 22 * ((len(columns) + 2) // 3) + 10
    for title, rows, fmt in sections:
        y += 18
        parts.append(f"<text x='{pad}' y='{y}' class='h'>{html.escape(title)}</text>")
        y += 10
        top, bars_start = y, len(parts)
        for label, bars in rows:
            height = max(1, len(bars)) * (bar_h + 2)
            parts.append(f"<text x='{label_w}' y='{y + height / 2 + 4}' text-anchor='end'>"
                         f"{html.escape(label)}</text>")
            for i, v in bars:
                color = PALETTE[i % len(PALETTE)]
                if v:
                    a, b = sorted((x(1.0), x(v)))
                    parts.append(f"<rect x='{a:.1f}' y='{y}' width='{max(b - a, 1.5):.1f}' "
                                 f"height='{bar_h}' fill='{color}'><title>{html.escape(label)} · "
                                 f"{html.escape(_label(columns[i]))}: {fmt(v)}</title></rect>")
                    tx = x(v) + 4 if v >= 1 else x(v) - 4
                    anchor = "start" if v >= 1 else "end"
                    parts.append(f"<text x='{tx:.1f}' y='{y + bar_h - 2}' text-anchor='{anchor}' "
                                 f"class='v'>{fmt(v)}</text>")
                y += bar_h + 2
            y += gap
        grid = []  # drawn first, under the bars
        for t in ticks:
            grid.append(f"<line x1='{x(t):.1f}' y1='{top - 4}' x2='{x(t):.1f}' y2='{y}' "
                        f"class='{'one' if t == 1 else 'grid'}'/>")
            grid.append(f"<text x='{x(t):.1f}' y='{y + 12}' text-anchor='middle' class='v'>"
                        f"{fmt_fraction(t) if fmt is fmt_fraction else f'{t:g}×'}</text>")
        parts[bars_start:bars_start] = grid
        y += 24
    if not sections:
        parts.append(f"<text x='{pad}' y='{y + 20}'>No ratio to show: no torch · cpu reference and "
                     "no within-run comparison in these files.</text>")
        y += 40
    width, height = x0 + plot_w + 80, y + 10
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            f"viewBox='0 0 {width} {height}' font-family='sans-serif' font-size='11'>\n"
            "<style>.h{font-weight:bold;font-size:12px}.v{fill:#444;font-size:10px}"
            ".grid{stroke:#ddd}.one{stroke:#000}</style>\n"
            f"<rect width='{width}' height='{height}' fill='white'/>\n"
            f"<text x='{pad}' y='18' class='h'>Benchmarks of the seeds' workloads "
            "(log scale; left of 1×: faster)</text>\n" + "\n".join(parts) + "\n</svg>\n")
