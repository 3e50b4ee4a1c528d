"""Running the conformance suite from the project's own tests and reading its outcome per claim.

Each run is a fresh process (faulty backends may patch torchvision or install hooks for the whole
process), forked from a server process that has already imported torch, torchvision and the suite
(multiprocessing's forkserver with preloaded modules): a run then costs the suite's own time, not
another few seconds of importing torch. The server is single-threaded, so forking it is safe.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from autograd_conformance.outcomes import BAD

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 600  # seconds for one whole suite run

_PRELOAD = ["numpy", "torch", "torchvision.datasets", "torch.utils.data", "hypothesis", "pytest",
            "_hypothesis_pytestplugin", "xdist.plugin", "xdist.looponfail", "pytest_timeout",
            "pytest_benchmark.plugin", "pytest_randomly", "anyio.pytest_plugin", "autograd_conformance.plugin",
            "autograd_conformance.backends.torch_backend", "tests.forkserver_ready"]
_FORKSERVER = multiprocessing.get_context("forkserver")
_FORKSERVER.set_forkserver_preload(_PRELOAD)


def _pytest_in_child(argv: list[str], out: str, err: str, cwd: str, env: dict | None) -> None:
    """Body of a forked run: pytest on argv in cwd (first on sys.path, as with ``python -m pytest``),
    its output in the files out and err."""
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    os.chdir(cwd)
    sys.path.insert(0, cwd)
    # the suites' modules, rewritten for assertions, are cached in __pycache__ for the next run
    # (PYTHONDONTWRITEBYTECODE would have every run rewrite them again: about a second)
    sys.dont_write_bytecode = False
    for fd, path in ((1, out), (2, err)):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    import pytest
    # the preloaded plugins were imported before pytest could rewrite their asserts: not this run's concern
    code = int(pytest.main(["-W", "ignore::pytest.PytestAssertRewriteWarning", *argv]))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _forked(argv: list[str], out: Path, err: Path, cwd: Path, env: dict | None, timeout: float) -> int:
    child = _FORKSERVER.Process(target=_pytest_in_child, args=(argv, str(out), str(err), str(cwd), env))
    child.start()
    child.join(timeout)
    if child.is_alive():
        child.kill()
        child.join()
        raise TimeoutError(f"pytest {' '.join(argv)} ran longer than {timeout} s")
    return child.exitcode


def run_pytest(argv: list[str], log: Path, timeout: float = TIMEOUT) -> tuple[int, str]:
    """(exit code, output) of pytest run on argv in ROOT, in a process of its own."""
    code = _forked(argv, log, log, ROOT, None, timeout)
    return code, log.read_text(errors="replace") if log.exists() else ""


def run_forked(argv: list[str], cwd: Path = ROOT, env: dict | None = None, timeout: float = TIMEOUT
               ) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of pytest run on argv in cwd with the environment env (default:
    the forkserver's), in a process of its own."""
    with tempfile.TemporaryDirectory() as tmp:
        out, err = Path(tmp, "stdout"), Path(tmp, "stderr")
        code = _forked(argv, out, err, cwd, env, timeout)
        return code, *(p.read_text(errors="replace") if p.exists() else "" for p in (out, err))


def runpytest_forked(pytester, *args: str, timeout: float = TIMEOUT):
    """pytester.runpytest_subprocess without its cost: pytest on args in pytester's directory, with
    pytester's environment, in a process of its own forked from the server that has imported torch
    and pytest's plugins already. Its exit code is the process's (negative for a signal)."""
    import pytest
    basetemp = pytester.path / f"runpytest-{len(list(pytester.path.glob('runpytest-*')))}"
    start = time.monotonic()
    code, out, err = run_forked([f"--basetemp={basetemp}", *args], pytester.path, dict(os.environ), timeout)
    print(out)
    print(err, file=sys.stderr)
    return pytest.RunResult(code, out.splitlines(), err.splitlines(), time.monotonic() - start)


def run_suite(tmp_path: Path, *args: str, suites: str | list[str] = "suites", report_dir: Path | None = None
              ) -> tuple[int, dict[str, dict[str, str]], str]:
    """Run pytest on the suites in a subprocess; return (exit code, {claim: {test id: outcome}}, output).

    Outcomes are those of the suite's own outcome model (autograd_conformance.outcomes: pass, fail,
    not applicable, timeout, crash, ...), as the run's conformance.json records them."""
    code, cases, output = run_suite_cases(tmp_path, *args, suites=suites, report_dir=report_dir)
    outcomes: dict[str, dict[str, str]] = defaultdict(dict)
    for test_id, case in cases.items():
        if case["claim"] is not None:
            outcomes[case["claim"]][test_id] = case["outcome"]
    return code, dict(outcomes), output


def run_suite_cases(tmp_path: Path, *args: str, suites: str | list[str] = "suites", report_dir: Path | None = None
                    ) -> tuple[int, dict[str, dict], str]:
    """Like run_suite, but return every test: {test id ("suites.test_x::test_y[cpu]"): {"claim":
    claim or None, "outcome": its outcome in conformance.json, "message": its message there (the
    failure or skip message), "properties": its junit properties (not_applicable, too_large,
    workload, ...)}}."""
    junit = tmp_path / "junit.xml"
    report_dir = report_dir or tmp_path / "reports"
    # pytest-randomly (in the test extra) shuffles only where a test asks for it with "-p randomly"
    order = [] if any("randomly" in a for a in args) else ["-p", "no:randomly"]
    argv = [*([suites] if isinstance(suites, str) else suites), *order, "-q", "-p", "no:cacheprovider", "--no-header", f"--junitxml={junit}",
            "-o", "junit_family=xunit2", f"--report-dir={report_dir}", *args]
    code, output = run_pytest(argv, tmp_path / "output.txt")
    report = report_dir / "conformance.json"
    if not report.exists():
        return code, {}, output
    run = json.loads(report.read_text(encoding="utf-8"))
    tests = {t["nodeid"]: {**t, "claim": c["id"]} for c in run["claims"] for t in c["tests"]}
    tests.update({t["nodeid"]: {**t, "claim": None} for t in run["unclaimed"]})
    properties = {}
    if junit.exists():
        for case in ET.parse(junit).iter("testcase"):
            properties[f"{case.get('classname')}::{case.get('name')}"] = {
                p.get("name"): p.get("value") for p in case.iter("property")}
    cases: dict[str, dict] = {}
    for nodeid, test in tests.items():
        module, _, name = nodeid.partition("::")
        test_id = f"{module.removesuffix('.py').replace('/', '.')}::{name}"
        cases[test_id] = {"claim": test["claim"], "outcome": test["outcome"],
                          "message": test["message"] or test["summary"] or "",
                          "properties": properties.get(test_id, {})}
    return code, cases, output


def failing_claims(outcomes: dict[str, dict[str, str]]) -> set[str]:
    return {c for c, tests in outcomes.items() if any(o in BAD for o in tests.values())}
