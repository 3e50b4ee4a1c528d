"""A fault in one test costs that test, never the run or its reports (containment.py,
report/sentinel.py): a segfault, os._exit and a hang in native code that holds the GIL, in a serial
run and under xdist; a hang that a property test's retries would repeat forever; a timeout that
expires while pytest itself is reporting."""

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.conformance_run import run_forked, runpytest_forked

pytestmark = pytest.mark.slow  # hangs, crashes and timeouts in runs of their own, some under xdist: not in the fast subset (-m "not slow")

ROOT = Path(__file__).resolve().parent.parent

SAMPLE = '''
    import numpy as np
    import pytest
    from hypothesis import given, strategies as st

    @pytest.mark.claim("backward.chain-rule-40")
    def test_chain(B, device):
        _, (dw,) = B.vjp(lambda w: 10 * w ** 2 + 25, [B.tensor(2.0, device=device)])
        assert abs(float(B.to_numpy(dw)) - 40) < 1e-4

    @pytest.mark.claim("custom.myrelu-equals-relu")
    @pytest.mark.parametrize("fault", ["segfault", "exit", "native_hang"])
    def test_fault(B, device, fault):
        B.custom_function(fault, None)

    @pytest.mark.claim("custom.backward-rule-is-used")
    @given(st.floats(-1, 1))
    def test_fault_in_property(B, device, x):
        B.custom_function("swallowing_hang", None)
'''

FAULTS = '''
    import ctypes, os, time
    from autograd_conformance.backends.torch_backend import TorchBackend

    def segfault():
        ctypes.string_at(0)  # reads address 0: SIGSEGV

    def exit():
        os._exit(3)

    def native_hang():
        libc = ctypes.PyDLL(None)  # a PyDLL call keeps the GIL
        mutex = ctypes.create_string_buffer(64)  # PTHREAD_MUTEX_INITIALIZER is zeros
        libc.pthread_mutex_lock(mutex)
        libc.pthread_mutex_lock(mutex)  # deadlock in native code, GIL held

    def swallowing_hang():
        while True:  # an engine loop that survives every Exception
            try:
                time.sleep(0.05)
            except Exception:
                pass

    class Faults(TorchBackend):
        """custom_function commits the fault the test names."""
        def custom_function(self, forward, backward):
            globals()[forward]()
'''


def conformance_run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    (tmp_path / "test_sample.py").write_text(textwrap.dedent(SAMPLE))
    (tmp_path / "faults.py").write_text(textwrap.dedent(FAULTS))
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}", "OMP_NUM_THREADS": "1"}
    argv = ["-p", "autograd_conformance.plugin", "-p", "no:cacheprovider", "-p", "no:randomly",
            "--backend", "faults:Faults", "--conformance-timeout", "2", "--report-dir", "reports", *args]
    run = subprocess.CompletedProcess(argv, *run_forked(argv, tmp_path, env, timeout=240))
    report = tmp_path / "reports" / "conformance.json"
    assert report.exists(), f"no report after {args}:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run, json.loads(report.read_text())


def outcomes(doc: dict) -> dict[str, str]:
    return {c["id"]: c["outcome"] for c in doc["claims"]}


def outcomes_by_test(doc: dict) -> dict[str, str]:
    return {t["nodeid"].partition("::")[2]: t["outcome"] for c in doc["claims"] for t in c["tests"]}


@pytest.mark.parametrize("fault, outcome", [("segfault", "crash"), ("exit", "crash"),
                                            ("native_hang", "timeout")])
def test_fault_in_serial_run_leaves_reports(tmp_path, fault, outcome):
    """The process dies; the sentinel rebuilds the reports from the journal, marked incomplete,
    naming the test that was running."""
    run, doc = conformance_run(tmp_path, "-k", f"chain or {fault}")
    assert run.returncode != 0
    assert outcomes(doc) == {"backward.chain-rule-40": "pass", "custom.myrelu-equals-relu": outcome}
    assert doc["complete"] is False and f"test_fault[cpu-{fault}] was running" in doc["incomplete_reason"]
    assert "Reports rebuilt from the journal" in run.stderr
    assert all((tmp_path / "reports" / f"conformance.{ext}").exists() for ext in ("md", "html"))


def test_faults_under_xdist_cost_one_test_each(tmp_path):
    """Each fault kills its worker and xdist starts another: every other test runs, the report is
    complete, each faulting test is a crash or a timeout (never a verdict on its claim), the run
    exits 1, and the terminal summary, the reports and the junit XML agree."""
    run, doc = conformance_run(tmp_path, "-n", "2", "-k", "not property", "--junitxml=junit.xml")
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout[-3000:]
    assert outcomes_by_test(doc) == {"test_chain[cpu]": "pass", "test_fault[cpu-segfault]": "crash",
                                  "test_fault[cpu-exit]": "crash", "test_fault[cpu-native_hang]": "timeout"}
    assert doc["complete"] is True and doc["finished"] == doc["collected"] == 4, doc["incomplete_reason"]
    fault = next(c for c in doc["claims"] if c["id"] == "custom.myrelu-equals-relu")
    assert fault["outcome"] == "crash"  # the worst of its tests
    crashed = {t["nodeid"]: t for t in fault["tests"]}["test_sample.py::test_fault[cpu-exit]"]
    assert "crashed while running" in crashed["summary"]
    assert crashed["rerun"].endswith(" pytest -p autograd_conformance.plugin --backend faults:Faults --device cpu "
                                     "--no-report 'test_sample.py::test_fault[cpu-exit]'")
    assert crashed["rerun"].startswith(f"PYTHONPATH={tmp_path}")  # where the adapter was found
    assert "cpu: 1 claims hold, 0 fail, 1 crash" in run.stdout, run.stdout[-3000:]
    for test, outcome in (("segfault", "CRASH"), ("exit", "CRASH"), ("native_hang", "TIMEOUT")):
        assert f"{outcome} test_sample.py::test_fault[cpu-{test}]" in run.stdout, run.stdout[-3000:]
    junit = (tmp_path / "junit.xml").read_text()
    assert 'name="claim" value="custom.myrelu-equals-relu"' in junit
    assert junit.count('name="crash"') == 2 and junit.count('name="timeout"') == 1


def test_hang_that_swallows_exceptions_in_a_property_test_times_out(tmp_path):
    """The timeout is a BaseException raised again every second: neither the engine's
    `except Exception` nor Hypothesis's retries of the failing example keep the test running."""
    run, doc = conformance_run(tmp_path, "-k", "chain or property")
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout[-3000:]
    assert outcomes(doc) == {"backward.chain-rule-40": "pass", "custom.backward-rule-is-used": "timeout"}
    assert doc["complete"] is True
    (hung,) = [t for c in doc["claims"] for t in c["tests"] if t["outcome"] == "timeout"]
    # the test's own time (not the run's, which a loaded machine stretches with imports): the 2 s
    # timer and a few of its 1 s repeats, not Hypothesis replaying the example for minutes
    assert hung["duration"] < 30, f"a 2 s timeout took the test {hung['duration']:.0f} s"


def test_a_timer_expiring_while_pytest_reports_waits_for_the_test(pytester):
    """The timer covers the whole test, reports included; an expiry while pytest itself works
    (here a report that takes 1.5 s, as formatting a traceback can on a busy machine) raises
    nothing there, where it would be an internal error that ends the run: it waits for the test's
    own code. A test that runs past its timeout is still one."""
    pytester.makeconftest("""
        import time
        import pytest

        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_makereport(item, call):
            if call.when == "call":
                time.sleep(1.5)  # a slow report: past the 1 s timeout
            return (yield)
    """)
    pytester.makepyfile(test_slow="""
        import time
        import pytest

        @pytest.mark.claim("backward.sum-is-zero-dim")
        def test_quick(B, device):
            pass

        @pytest.mark.claim("backward.chain-rule-40")
        def test_hangs(B, device):
            time.sleep(30)
    """)
    code, out, err = run_forked(["-p", "autograd_conformance.plugin", "-p", "no:cacheprovider", "-p", "no:randomly",
                                 "--conformance-timeout", "1", "--no-report"], pytester.path, timeout=120)
    assert "INTERNALERROR" not in out + err, out + err
    assert code == pytest.ExitCode.TESTS_FAILED, out + err
    assert "TIMEOUT test_slow.py::test_hangs[cpu]" in out and "1 failed, 1 passed" in out, out


EXHAUSTING_BACKENDS = """
from autograd_conformance.backends.torch_backend import TorchBackend

class OutOfMemory(TorchBackend):
    name = "out-of-memory"
    def vjp(self, fn, inputs, cotangent=None):
        raise MemoryError("cannot allocate the graph")

class EndlessRecursion(TorchBackend):
    name = "endless-recursion"
    def vjp(self, fn, inputs, cotangent=None):
        return self.vjp(fn, inputs, cotangent)
"""


@pytest.mark.parametrize("backend, error", [("OutOfMemory", "MemoryError: cannot allocate the graph"),
                                            ("EndlessRecursion", "RecursionError: maximum recursion depth")],
                         ids=["memory", "recursion"])
def test_running_out_of_resources_is_its_own_outcome(pytester, backend, error):
    """MemoryError and RecursionError are the machine's limits, not the claim failing: the test's
    outcome is *out of resources* in the terminal, the reports and junit XML, and the run goes on."""
    pytester.makepyfile(exhausting=EXHAUSTING_BACKENDS, test_exhaust="""
        import numpy as np
        import pytest

        @pytest.mark.claim("backward.chain-rule-40")
        def test_chain(B, device):
            B.vjp(lambda w: 10 * w ** 2 + 25, [B.tensor(2.0, device=device)])

        @pytest.mark.claim("graph.leaf-has-no-node")
        def test_leaf(B, device):
            assert B.grad_fn(B.tensor(np.ones(2), device=device, requires_grad=True)) is None
    """)
    result = runpytest_forked(pytester, "-p", "autograd_conformance.plugin", "-p", "no:cacheprovider",
                              "-p", "no:randomly", "-o", "pythonpath=.", "--backend", f"exhausting:{backend}",
                              "--report-dir", "reports", "--junitxml", "junit.xml", "-rA")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"*{error}*", "OUT OF RESOURCES test_exhaust.py::test_chain*",
                                 "*1 failed, 1 passed*"])
    data = json.loads((pytester.path / "reports" / "conformance.json").read_text())
    assert data["complete"] is True
    assert {c["id"]: c["outcome"] for c in data["claims"]} == {
        "backward.chain-rule-40": "out of resources", "graph.leaf-has-no-node": "pass"}
    assert data["totals"]["tests"]["out of resources"] == 1 and data["totals"]["tests"]["fail"] == 0
    assert 'name="out_of_resources"' in (pytester.path / "junit.xml").read_text()
