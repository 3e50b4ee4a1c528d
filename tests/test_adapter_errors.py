"""Adapter faults are the adapter's: where the suite can tell that an adapter broke the protocol's
contract (a method returns something that is not a tensor, a tensor of another shape or float dtype
than asked for, or raises TypeError/AttributeError from the adapter's own code), the test's outcome
is *adapter error* naming the method: never not applicable, never a failure of the claim. An error
the engine raises is the engine's; and an adapter method handed None by a test (the bias of a layer
the engine built without one) is not the adapter's fault either. A project test that meets
Unsupported fails (it is not a skip)."""

import json
import textwrap

import numpy as np
import pytest
import torch

from autograd_conformance.contracts import ContractView
from autograd_conformance.backends.torch_backend import TorchBackend
from autograd_conformance.outcomes import ADAPTER_ERROR, FAIL, NA, PASS
from autograd_conformance.protocol import AdapterError, Unsupported
from tests.conformance_run import run_suite_cases, runpytest_forked


class ReluReturnsList(TorchBackend):
    def relu(self, t):
        return torch.relu(t).tolist()


class ToNumpyFlattens(TorchBackend):
    def to_numpy(self, t):
        return super().to_numpy(t).reshape(-1)


class TensorIgnoresDtype(TorchBackend):
    def tensor(self, data, *, device, dtype=None, requires_grad=None):
        return super().tensor(data, device=device, dtype=None, requires_grad=requires_grad)


class SumMisspelt(TorchBackend):
    def sum(self, t):
        return t.summ()  # AttributeError in the adapter's own code


class EngineRaisesTypeError(TorchBackend):
    """mean calls into a library whose own Python code raises TypeError (json stands in for an
    engine written in Python). An engine's compiled code leaves no frame of its own: a TypeError it
    raises reads as raised where the adapter called it (the suite cannot tell those apart)."""

    def mean(self, t):
        return json.dumps(t)


def _make(cls):
    return ContractView(cls())


def test_each_contract_check_names_the_method():
    x = np.arange(6.0).reshape(2, 3)
    with pytest.raises(AdapterError, match="adapter error in relu: returned list"):
        _make(ReluReturnsList).relu(torch.ones(2))
    with pytest.raises(AdapterError, match=r"adapter error in to_numpy: read a tensor of shape \(2, 3\)"):
        _make(ToNumpyFlattens).to_numpy(torch.ones(2, 3))
    with pytest.raises(AdapterError, match="adapter error in tensor: asked for dtype float64"):
        _make(TensorIgnoresDtype).tensor(x, device="cpu", dtype="float64")
    with pytest.raises(AdapterError, match="adapter error in sum: AttributeError raised by the adapter's own code"):
        _make(SumMisspelt).sum(torch.ones(2))
    B = _make(TorchBackend)
    with pytest.raises(AttributeError):  # None handed in by a test: not the adapter's fault
        B.grad(None)
    assert B.tensor(2.0, device="cpu").shape == () and B.to_numpy(B.tensor(x, device="cpu")).shape == (2, 3)


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("backend", "method", "tests"), [
    ("ReluReturnsList", "relu", "test_relu"),
    ("ToNumpyFlattens", "to_numpy", "test_matmul"),
    ("TensorIgnoresDtype", "tensor", "test_sum_mean and float64"),
    ("SumMisspelt", "sum", "test_sum_mean and float32"),
])
def test_adapter_faults_are_adapter_errors_not_verdicts(tmp_path, backend, method, tests):
    code, cases, output = run_suite_cases(tmp_path, "--backend", f"tests.test_adapter_errors:{backend}",
                                          "-k", tests, suites="suites/test_ops.py")
    assert cases, output[-3000:]
    assert code == 1, "an adapter error fails the run"
    errors = {t: c for t, c in cases.items() if c["outcome"] == ADAPTER_ERROR}
    assert errors, {t: c["outcome"] for t, c in cases.items()}
    assert all(c["properties"].get("adapter_error") == method for c in errors.values()), errors
    assert not any(c["outcome"] in (NA, FAIL) for c in cases.values()), \
        {t: c["outcome"] for t, c in cases.items() if c["outcome"] in (NA, FAIL)}
    assert "ADAPTER ERROR claim" in output


@pytest.mark.timeout(600)
def test_an_engines_type_error_is_the_engines(tmp_path):
    code, cases, output = run_suite_cases(tmp_path, "--backend", "tests.test_adapter_errors:EngineRaisesTypeError",
                                          "-k", "test_sum_mean and mean and float32", suites="suites/test_ops.py")
    mean = {t: c["outcome"] for t, c in cases.items() if "-mean-" in t}
    assert mean and set(mean.values()) == {FAIL}, mean
    assert code == 1


def test_unsupported_in_a_project_test_fails(pytester):
    """Only a conformance test (a claim marker or the B fixture) is not applicable on Unsupported;
    anywhere else, the project's own tests included, it is an error."""
    pytester.makepyfile(test_project=textwrap.dedent("""
        from autograd_conformance.protocol import Unsupported

        def test_hits_unsupported():
            raise Unsupported("zero_grad(set_to_none=False)")

        def test_passes():
            pass
    """))
    result = runpytest_forked(pytester, "-p", "autograd_conformance.plugin", "-p", "no:randomly")
    result.assert_outcomes(failed=1, passed=1)
    assert PASS and Unsupported  # the names this module documents
