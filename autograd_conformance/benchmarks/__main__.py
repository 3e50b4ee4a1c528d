"""python -m autograd_conformance.benchmarks report FILE.json ... --out DIR"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograd_conformance.benchmarks.chart import svg_chart
from autograd_conformance.benchmarks.report import REPORT_FILES, ReportError, load, markdown


def write_report(paths: list[Path], out: Path) -> list[Path]:
    records, runs, notes = load(paths)
    out.mkdir(parents=True, exist_ok=True)
    md, svg = out / REPORT_FILES[0], out / REPORT_FILES[1]
    md.write_text(markdown(records, runs, notes), encoding="utf-8")
    svg.write_text(svg_chart(records), encoding="utf-8")
    return [md, svg]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograd_conformance.benchmarks")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("report", help="Markdown table and SVG chart from benchmark JSON files")
    r.add_argument("files", nargs="+", type=Path, help="pytest-benchmark JSON files (pytest --benchmarks)")
    r.add_argument("--out", type=Path, required=True, help="directory for benchmarks.md and benchmarks.svg")
    args = parser.parse_args(argv)
    try:
        written = write_report(args.files, args.out)
    except (ReportError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("wrote " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
