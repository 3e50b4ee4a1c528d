"""python -m autograd_conformance.benchmarks report FILE.json ... --out DIR [--readme README.md]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograd_conformance.benchmarks.chart import svg_chart
from autograd_conformance.benchmarks.report import REPORT_FILES, ReportError, load, markdown, readme_table

README_MARKERS = ("<!-- benchmarks:start -->", "<!-- benchmarks:end -->")


def write_report(paths: list[Path], out: Path, readme: Path | None = None) -> list[Path]:
    records, runs, notes = load(paths)
    if readme is not None:
        update_readme(readme, readme_table(records, runs))
    out.mkdir(parents=True, exist_ok=True)
    md, svg = out / REPORT_FILES[0], out / REPORT_FILES[1]
    md.write_text(markdown(records, runs, notes), encoding="utf-8")
    svg.write_text(svg_chart(records), encoding="utf-8")
    return [md, svg] + ([readme] if readme is not None else [])


def update_readme(path: Path, table: str) -> None:
    """Replace what stands between the README's benchmark markers with the table."""
    start, end = README_MARKERS
    text = path.read_text(encoding="utf-8")
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        raise ReportError(f"{path} has no {start} ... {end} markers to put the table between")
    path.write_text(text[:i + len(start)] + "\n" + table.strip() + "\n" + text[j:], encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograd_conformance.benchmarks")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("report", help="Markdown table and SVG chart from benchmark JSON files")
    r.add_argument("files", nargs="+", type=Path, help="pytest-benchmark JSON files (pytest --benchmarks)")
    r.add_argument("--out", type=Path, required=True, help="directory for benchmarks.md and benchmarks.svg")
    r.add_argument("--readme", type=Path, help="README whose benchmarks table (between <!-- benchmarks:start --> "
                                               "and <!-- benchmarks:end -->) to replace")
    args = parser.parse_args(argv)
    try:
        written = write_report(args.files, args.out, args.readme)
    except (ReportError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("wrote " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
