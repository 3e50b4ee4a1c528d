"""Running the conformance suite from the project's own tests and reading its outcome per claim."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    report = ["--no-report"] if report_dir is None else [f"--report-dir={report_dir}"]
    cmd = [sys.executable, "-m", "pytest", suites, "-q", "-p", "no:cacheprovider", "--no-header",
           f"--junitxml={junit}", "-o", "junit_family=xunit2", *report, *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    cases: dict[str, dict] = {}
    if junit.exists():
        for case in ET.parse(junit).iter("testcase"):
            props = {p.get("name"): p.get("value") for p in case.iter("property")}
            kinds = [child for child in case if child.tag in ("failure", "error", "skipped")]
            outcome = {"failure": "failed"}.get(kinds[0].tag, kinds[0].tag) if kinds else "passed"
            cases[f"{case.get('classname')}::{case.get('name')}"] = {
                "claim": props.get("claim"), "outcome": outcome, "properties": props,
                "message": kinds[0].get("message", "") if kinds else ""}
    return proc.returncode, cases, proc.stdout + proc.stderr


def failing_claims(outcomes: dict[str, dict[str, str]]) -> set[str]:
    return {c for c, tests in outcomes.items() if any(o in ("failed", "error") for o in tests.values())}
