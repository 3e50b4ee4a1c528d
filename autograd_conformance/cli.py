"""``autograd-conformance [pytest options]``: the conformance suite of an installed copy.

The same as ``pytest -p autograd_conformance.plugin --pyargs autograd_conformance.suites ...``,
with the suite's own pytest settings (``conformance.ini`` beside this file) instead of those of the
directory it is run from, so that an engine's own pytest configuration (addopts, plugins' ini
options) does not leak into the conformance run. Reports go to ./reports unless --report-dir.
Given tests (``file.py``, ``file.py::test``, as its rerun lines give them), it runs those instead
of the whole suite.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

INI = Path(__file__).with_name("conformance.ini")


def arguments(argv: list[str]) -> list[str]:
    suite = [] if any(is_test(a) for a in argv) else ["--pyargs", "autograd_conformance.suites"]
    return ["-p", "autograd_conformance.plugin", "-c", str(INI), "--rootdir", str(Path.cwd()), *suite, *argv]


def is_test(arg: str) -> bool:
    """A test or test file named on the command line (not an option or an option's value)."""
    return not arg.startswith("-") and ("::" in arg or (arg.endswith(".py") and Path(arg).is_file()))


def main(argv: list[str] | None = None) -> int:
    return int(pytest.main(arguments(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
