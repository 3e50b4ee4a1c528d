"""Running the conformance suite from the project's own tests and reading its outcome per claim."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_suite(tmp_path: Path, *args: str, suites: str = "suites") -> tuple[int, dict[str, dict[str, str]], str]:
    """Run pytest on the suites in a subprocess; return (exit code, {claim: {test id: outcome}}, output).

    Outcomes come from the run's --junitxml: passed, failed, error or skipped."""
    junit = tmp_path / "junit.xml"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "pytest", suites, "-q", "-p", "no:cacheprovider", "--no-header",
           f"--junitxml={junit}", "-o", "junit_family=xunit2", "--no-report", *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    outcomes: dict[str, dict[str, str]] = defaultdict(dict)
    if junit.exists():
        for case in ET.parse(junit).iter("testcase"):
            props = {p.get("name"): p.get("value") for p in case.iter("property")}
            if "claim" not in props:
                continue
            kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
            test_id = f"{case.get('classname')}::{case.get('name')}"
            outcomes[props["claim"]][test_id] = {"failure": "failed"}.get(kinds[0], kinds[0]) if kinds else "passed"
    return proc.returncode, dict(outcomes), proc.stdout + proc.stderr


def failing_claims(outcomes: dict[str, dict[str, str]]) -> set[str]:
    return {c for c, tests in outcomes.items() if any(o in ("failed", "error") for o in tests.values())}
