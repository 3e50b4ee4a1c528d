"""Running pytest from the project's own tests (the conformance suite, or pytester's small
projects) and reading the suite's outcome per claim.

Each run is a fresh process (faulty backends may patch torchvision or install hooks for the whole
process), forked from a server process that has already imported torch, torchvision, pytest's
plugins and the suite's plugin (multiprocessing's forkserver with preloaded modules), and has moved
them out of the garbage collector's sight (forkserver_ready.py): a run then costs the suite's own
time, not another few seconds of starting Python and importing torch. The server is
single-threaded, so forking it is safe.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from multiprocessing import reduction
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


class _WriteEnd:
    """A pipe's write end handed to the forked child (multiprocessing duplicates it into the child)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self):
        return _write_end, (reduction.DupFd(self.fd),)


def _write_end(dup) -> int:
    return dup.detach()


def _pytest_in_child(argv: list[str], out: int, err: int, cwd: str, env: dict | None) -> None:
    """Body of a forked run: pytest on argv in cwd with the environment env, writing to the pipes out
    and err. sys.path starts with cwd and PYTHONPATH, as for ``python -m pytest``."""
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    os.chdir(cwd)
    sys.path[:0] = [cwd, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    # the suites' modules, rewritten for assertions, are cached in __pycache__ for the next run
    # (PYTHONDONTWRITEBYTECODE would have every run rewrite them again: about a second)
    sys.dont_write_bytecode = False
    os.dup2(out, 1)
    os.dup2(err, 2)
    import pytest
    # the preloaded plugins were imported before pytest could rewrite their asserts: not this run's concern
    code = int(pytest.main(["-W", "ignore::pytest.PytestAssertRewriteWarning", *argv]))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _drain(fd: int, into: list[bytes]) -> None:
    with open(fd, "rb") as pipe:
        into.append(pipe.read())


def _forked(argv: list[str], cwd: Path, env: dict | None, timeout: float, merge: bool = False
            ) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the forked run; stdout holds stderr too if merge. Like
    subprocess.run, the output is read until every process that holds the pipes (the run's
    sentinel, say) has closed them."""
    pipes = [os.pipe()] if merge else [os.pipe(), os.pipe()]
    ends = [_WriteEnd(w) for _, w in pipes]
    child = _FORKSERVER.Process(target=_pytest_in_child, args=(argv, ends[0], ends[-1], str(cwd), env))
    child.start()
    outputs: list[list[bytes]] = [[] for _ in pipes]
    readers = [threading.Thread(target=_drain, args=(r, o), daemon=True) for (r, _), o in zip(pipes, outputs)]
    for (_, w), reader in zip(pipes, readers):
        os.close(w)
        reader.start()
    child.join(timeout)
    if child.is_alive():
        child.kill()
        child.join()
        raise TimeoutError(f"pytest {' '.join(argv)} ran longer than {timeout} s")
    for reader in readers:
        reader.join(60)
    text = [b"".join(o).decode(errors="replace") for o in outputs]
    return child.exitcode, text[0], "" if merge else text[1]


def run_pytest(argv: list[str], log: Path, timeout: float = TIMEOUT, env: dict | None = None) -> tuple[int, str]:
    """(exit code, output) of pytest run on argv in ROOT, in a process of its own (with the
    environment env, default the forkserver's); the output is also written to the file log."""
    code, output, _ = _forked(argv, ROOT, env, timeout, merge=True)
    log.write_text(output)
    return code, output


def run_forked(argv: list[str], cwd: Path = ROOT, env: dict | None = None, timeout: float = TIMEOUT
               ) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of pytest run on argv in cwd with the environment env (default:
    the forkserver's), in a process of its own."""
    return _forked(argv, cwd, env, timeout)


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


def run_suite_cases(tmp_path: Path, *args: str, suites: str | list[str] = "suites", report_dir: Path | None = None,
                    env: dict | None = None) -> tuple[int, dict[str, dict], str]:
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
    code, output = run_pytest(argv, tmp_path / "output.txt", env=env)
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
