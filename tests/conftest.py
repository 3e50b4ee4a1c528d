"""What the project's own tests share: the recorded reference run of the suite (reference_run) and
the collected suite with its markers (suite_items), each made once per session.

The project's own tests start many Python processes: forked and fresh pytest runs, their xdist
workers, the TensorFlow process. Each caches what it compiles, as pytest caches the modules it
rewrites for assertions (hypothesis, this package and the suites), also where the environment says
PYTHONDONTWRITEBYTECODE: else every process compiles them again, about a second of its start."""

import json
import os

import pytest
from filelock import FileLock

from tests.conformance_run import run_pytest, run_suite

os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: starts conformance runs or processes of its own; the fast subset, "
                                       "pytest tests -n 2 -m 'not slow', leaves it out")
    config.addinivalue_line("markers", "side_effects: checks or rewrites tests/faulty/side_effects.json; runs "
                                       "only with --faulty-snapshot (deselected without it)")


def pytest_collection_modifyitems(config, items):
    """A test that needs the recorded reference run or the collected suite (each a conformance run
    or collection of its own, made once per session) is slow too. The side-effect tests run only
    when --faulty-snapshot asks for them."""
    for item in items:
        if {"reference_run", "suite_items"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    if config.getoption("faulty_snapshot") is None:
        deselected = [item for item in items if item.get_closest_marker("side_effects")]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if not item.get_closest_marker("side_effects")]


def pytest_addoption(parser):
    parser.addoption(
        "--faulty-snapshot", choices=("check", "update"), default=None,
        help="run each faulty backend on the tests it can change outside its targets' claims and check "
             "(or update) what else it breaks against tests/faulty/side_effects.json; "
             "tests/test_generated_programs_catch.py runs every test the fault can change")


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory) -> dict:
    """The recorded reference run, once for all xdist workers: {"code", "outcomes" (claim -> test id
    -> outcome), "claims" (nodeid -> claim), "used" (nodeid -> adapter methods it called), "output"}."""
    base = tmp_path_factory.getbasetemp()  # under xdist, each worker's: their parent is the session's
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "reference-run"
    with FileLock(f"{shared}.lock"):
        result = shared / "result.json"
        if not result.exists():
            shared.mkdir(exist_ok=True)
            code, outcomes, output = run_suite(shared, "-p", "tests.method_use", "--backend",
                                               "tests.method_use:NotingCalls", "--method-use",
                                               str(shared / "used.json"), report_dir=shared / "reports")
            run = json.loads((shared / "reports" / "conformance.json").read_text())
            claims = {t["nodeid"]: c["id"] for c in run["claims"] for t in c["tests"]}
            used = json.loads((shared / "used.json").read_text()) if (shared / "used.json").exists() else {}
            result.write_text(json.dumps({"code": code, "outcomes": outcomes, "claims": claims,
                                          "used": used, "output": output[-3000:]}))
        return json.loads(result.read_text())


@pytest.fixture(scope="session")
def suite_items(tmp_path_factory) -> list[dict]:
    """Every collected conformance test: its claim, markers (inputs, uses, requires), fixtures and
    parameters (tests/collect_items.py)."""
    tmp = tmp_path_factory.mktemp("collect")
    out = tmp / "items.json"
    code, output = run_pytest(["suites", "--collect-only", "-q", "-p", "tests.collect_items",
                               f"--collect-items-to={out}", "--no-report", "-p", "no:cacheprovider"],
                              tmp / "output.txt")
    assert code == 0 and out.exists(), output[-3000:]
    return json.loads(out.read_text(encoding="utf-8"))

