"""``autograd-conformance [pytest options]``: the conformance suite of an installed copy.

The same as ``pytest -p autograd_conformance.plugin --pyargs autograd_conformance.suites ...``,
with the suite's own pytest settings (``conformance.ini`` beside this file) instead of those of the
directory it is run from, so that an engine's own pytest configuration (addopts, plugins' ini
options) does not leak into the conformance run. Reports go to ./reports unless --report-dir.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

INI = Path(__file__).with_name("conformance.ini")


def arguments(argv: list[str]) -> list[str]:
    return ["-p", "autograd_conformance.plugin", "-c", str(INI), "--rootdir", str(Path.cwd()),
            "--pyargs", "autograd_conformance.suites", *argv]


def main(argv: list[str] | None = None) -> int:
    return int(pytest.main(arguments(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
