"""Running the conformance suite from the project's own tests and reading its outcome per claim.

Each run is a fresh process (faulty backends may patch torchvision or install hooks for the whole
process), forked from a server process that has already imported torch, torchvision and the suite
(multiprocessing's forkserver with preloaded modules): a run then costs the suite's own time, not
another few seconds of importing torch. The server is single-threaded, so forking it is safe.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 600  # seconds for one whole suite run

_PRELOAD = ["numpy", "torch", "torchvision.datasets", "torch.utils.data", "hypothesis", "pytest",
            "xdist.plugin", "pytest_timeout", "autograd_conformance.plugin",
            "autograd_conformance.backends.torch_backend"]
_FORKSERVER = multiprocessing.get_context("forkserver")
_FORKSERVER.set_forkserver_preload(_PRELOAD)


def _pytest_in_child(argv: list[str], log: str) -> None:
    """Body of a forked run: pytest on argv in ROOT, its output in the file log."""
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    import pytest
    code = int(pytest.main(argv))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_pytest(argv: list[str], log: Path, timeout: float = TIMEOUT) -> tuple[int, str]:
    """(exit code, output) of pytest run on argv in ROOT, in a process of its own."""
    child = _FORKSERVER.Process(target=_pytest_in_child, args=(argv, str(log)))
    child.start()
    child.join(timeout)
    if child.is_alive():
        child.kill()
        child.join()
        raise TimeoutError(f"pytest {' '.join(argv)} ran longer than {timeout} s")
    return child.exitcode, log.read_text(errors="replace") if log.exists() else ""


def run_suite(tmp_path: Path, *args: str, suites: str = "suites", report_dir: Path | None = None
              ) -> tuple[int, dict[str, dict[str, str]], str]:
    """Run pytest on the suites in a subprocess; return (exit code, {claim: {test id: outcome}}, output).

    Outcomes come from the run's --junitxml: passed, failed, error or skipped. The run writes no
    conformance report unless report_dir is given."""
    code, cases, output = run_suite_cases(tmp_path, *args, suites=suites, report_dir=report_dir)
    outcomes: dict[str, dict[str, str]] = defaultdict(dict)
    for test_id, case in cases.items():
        if case["claim"] is not None:
            outcomes[case["claim"]][test_id] = case["outcome"]
    return code, dict(outcomes), output


def run_suite_cases(tmp_path: Path, *args: str, suites: str = "suites", report_dir: Path | None = None
                    ) -> tuple[int, dict[str, dict], str]:
    """Like run_suite, but return every test case of the junit XML: {test id: {"claim": claim or
    None, "outcome": passed/failed/error/skipped, "message": the failure or skip message,
    "properties": the test's junit properties (not_applicable, too_large, ...)}}."""
    junit = tmp_path / "junit.xml"
    report = ["--no-report"] if report_dir is None else [f"--report-dir={report_dir}"]
    argv = [suites, "-q", "-p", "no:cacheprovider", "--no-header", f"--junitxml={junit}",
            "-o", "junit_family=xunit2", *report, *args]
    code, output = run_pytest(argv, tmp_path / "output.txt")
    cases: dict[str, dict] = {}
    if junit.exists():
        for case in ET.parse(junit).iter("testcase"):
            props = {p.get("name"): p.get("value") for p in case.iter("property")}
            kinds = [child for child in case if child.tag in ("failure", "error", "skipped")]
            outcome = {"failure": "failed"}.get(kinds[0].tag, kinds[0].tag) if kinds else "passed"
            cases[f"{case.get('classname')}::{case.get('name')}"] = {
                "claim": props.get("claim"), "outcome": outcome, "properties": props,
                "message": kinds[0].get("message", "") if kinds else ""}
    return code, cases, output


def failing_claims(outcomes: dict[str, dict[str, str]]) -> set[str]:
    return {c for c, tests in outcomes.items() if any(o in ("failed", "error") for o in tests.values())}
