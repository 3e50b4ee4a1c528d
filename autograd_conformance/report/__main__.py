"""python -m autograd_conformance.report: merge runs into a matrix, or rebuild a dead run's reports.

    python -m autograd_conformance.report merge A.json B.json ... --out DIR [--readme README.md]
    python -m autograd_conformance.report rebuild DIR
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from autograd_conformance.report import journal
from autograd_conformance.report.document import FILES, merge
from autograd_conformance.report.markdown import matrix_markdown, update_readme
from autograd_conformance.report.write import MATRIX_FILES, rebuild, write_matrix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograd_conformance.report")
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("merge", help="merge conformance.json files of several runs into a matrix")
    m.add_argument("reports", nargs="+", type=Path, help="conformance.json files (or matrices)")
    m.add_argument("--out", type=Path, required=True, help="directory for conformance-matrix.*")
    m.add_argument("--readme", type=Path, help="README whose conformance-matrix block to replace")
    r = sub.add_parser("rebuild", help="write the reports of a run that died from the journal it left "
                                       f"(DIR/{journal.PREFIX}<run id>{journal.SUFFIX})")
    r.add_argument("dir", type=Path, help="the run's --report-dir, or the journal itself where "
                                          "several runs died there")
    args = parser.parse_args(argv)
    if args.command == "rebuild":
        if args.dir.is_dir() and not journal.find(args.dir):
            print(f"rebuild: nothing to rebuild in {args.dir}: no run died there")
            return 0
        try:
            run, reason, directory = rebuild(args.dir)
        except (OSError, ValueError) as exc:
            print(f"rebuild: {exc}", file=sys.stderr)
            return 2
        print(f"rebuilt {', '.join(FILES)} in {directory} from the journal: {run['finished']} finished "
              f"test(s); {reason}")
        return 0
    try:
        matrix = merge([json.loads(p.read_text(encoding="utf-8")) for p in args.reports])
    except (OSError, ValueError, KeyError) as exc:
        print(f"merge: cannot read the reports: {exc}", file=sys.stderr)
        return 2
    write_matrix(matrix, args.out)
    print(f"merged {len(args.reports)} report(s), {len(matrix['columns'])} column(s) into "
          f"{args.out}{os.sep}{', '.join(MATRIX_FILES)}")
    if args.readme:
        if update_readme(args.readme, matrix_markdown(matrix, title=None)):
            print(f"updated the conformance matrix in {args.readme}")
        else:
            print(f"{args.readme} has no <!-- conformance-matrix:start --> ... "
                  "<!-- conformance-matrix:end --> markers: left unchanged", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
