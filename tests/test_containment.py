"""A fault in one test costs that test, never the run or its reports (containment.py,
report/sentinel.py): a segfault, os._exit and a hang in native code that holds the GIL, in a serial
run and under xdist; a hang that a property test's retries would repeat forever."""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

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
    def test_fault(B, device):
        B.custom_function(None, None)

    @pytest.mark.claim("custom.backward-rule-is-used")
    @given(st.floats(-1, 1))
    def test_fault_in_property(B, device, x):
        B.custom_function(None, None)
'''

FAULTS = '''
    import ctypes, os, time
    from autograd_conformance.backends.torch_backend import TorchBackend

    class Segfault(TorchBackend):
        def custom_function(self, forward, backward):
            ctypes.string_at(0)  # reads address 0: SIGSEGV

    class Exit(TorchBackend):
        def custom_function(self, forward, backward):
            os._exit(3)

    class NativeHang(TorchBackend):
        def custom_function(self, forward, backward):
            libc = ctypes.PyDLL(None)  # a PyDLL call keeps the GIL
            mutex = ctypes.create_string_buffer(64)  # PTHREAD_MUTEX_INITIALIZER is zeros
            libc.pthread_mutex_lock(mutex)
            libc.pthread_mutex_lock(mutex)  # deadlock in native code, GIL held

    class SwallowingHang(TorchBackend):
        def custom_function(self, forward, backward):
            while True:  # an engine loop that survives every Exception
                try:
                    time.sleep(0.05)
                except Exception:
                    pass
'''


def conformance_run(tmp_path: Path, backend: str, *args: str) -> tuple[subprocess.CompletedProcess, dict, float]:
    (tmp_path / "test_sample.py").write_text(textwrap.dedent(SAMPLE))
    (tmp_path / "faults.py").write_text(textwrap.dedent(FAULTS))
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}", "OMP_NUM_THREADS": "1"}
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "autograd_conformance.plugin", "-p",
                          "no:cacheprovider", "-p", "no:randomly", "--backend", f"faults:{backend}",
                          "--timeout", "2", "--report-dir", "reports", *args],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    wall = time.monotonic() - started
    report = tmp_path / "reports" / "conformance.json"
    assert report.exists(), f"no report after {backend} {args}:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run, json.loads(report.read_text()), wall


def outcomes(doc: dict) -> dict[str, str]:
    return {c["id"]: c["outcome"] for c in doc["claims"]}


@pytest.mark.parametrize("fault, outcome", [("Segfault", "crash"), ("Exit", "crash"),
                                            ("NativeHang", "timeout")])
def test_fault_in_serial_run_leaves_reports(tmp_path, fault, outcome):
    """The process dies; the sentinel rebuilds the reports from the record, marked incomplete,
    naming the test that was running."""
    run, doc, _ = conformance_run(tmp_path, fault, "-k", "chain or fault and not property")
    assert run.returncode != 0
    assert outcomes(doc) == {"backward.chain-rule-40": "pass", "custom.myrelu-equals-relu": outcome}
    assert doc["complete"] is False and "test_fault[cpu] was running" in doc["incomplete_reason"]
    assert "Reports rebuilt from the record" in run.stderr
    assert all((tmp_path / "reports" / f"conformance.{ext}").exists() for ext in ("md", "html"))


@pytest.mark.parametrize("fault, outcome", [("Segfault", "crash"), ("Exit", "crash"),
                                            ("NativeHang", "timeout")])
def test_fault_under_xdist_costs_one_test(tmp_path, fault, outcome):
    """The worker dies, xdist replaces it, every other test runs: the report is complete, the
    faulting tests are crashes or timeouts (never claim failures), the run exits 1."""
    run, doc, _ = conformance_run(tmp_path, fault, "-n", "2")
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout[-3000:]
    assert outcomes(doc) == {"backward.chain-rule-40": "pass", "custom.myrelu-equals-relu": outcome,
                             "custom.backward-rule-is-used": outcome}
    assert doc["complete"] is True, doc["incomplete_reason"]
    assert f"2 {outcome}" in run.stdout and "1 claims hold, 0 fail" in run.stdout


def test_hang_that_swallows_exceptions_in_a_property_test_times_out(tmp_path):
    """The timeout is a BaseException raised again every second: neither the engine's
    `except Exception` nor Hypothesis's retries of the failing example keep the test running."""
    run, doc, wall = conformance_run(tmp_path, "SwallowingHang")
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout[-3000:]
    assert outcomes(doc) == {"backward.chain-rule-40": "pass", "custom.myrelu-equals-relu": "timeout",
                             "custom.backward-rule-is-used": "timeout"}
    assert doc["complete"] is True
    assert wall < 60, f"two 2 s timeouts took {wall:.0f} s"
