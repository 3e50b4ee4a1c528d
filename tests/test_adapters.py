"""Unit tests shared by the third-party adapters (mygrad, JAX, tinygrad, PaddlePaddle, TensorFlow,
MLX): the mapping of each onto the protocol, without running the conformance suites.
Engine-specific tests are in test_adapters_mygrad_jax.py, test_adapters_tinygrad_paddle.py and
test_adapters_tensorflow_mlx.py. An engine's tests are skipped when it is not installed; the
TensorFlow ones run in a process of their own (see tests/test_adapters_tensorflow_mlx.py)."""

from __future__ import annotations

import importlib.util
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

from autograd_conformance import backends, expectations
from autograd_conformance.contracts import ContractView
from autograd_conformance.assertions import DEFAULT_TOLERANCES, tolerance_for
from autograd_conformance.claims import CLAIMS
from autograd_conformance.protocol import EVERY_BACKEND, METHODS, ONE_OF, Capability as C, lacking
from autograd_conformance.registry import load_backend
from tests import tensorflow_process

# engine name -> (module to import, distribution name, declared capabilities in the default config)
ENGINES = {
    # backward always frees the graph and cannot keep it; Tensor.constant cannot be switched
    "mygrad": ("mygrad", "mygrad", {C.REQUIRES_GRAD, C.GRAPH_NODES, C.STORES_GRADIENTS, C.FREES_GRAPH, C.NO_GRAD,
                                    C.DETACH, C.IN_PLACE, C.CUSTOM_FUNCTION, C.FLOAT64}),
    "jax": ("jax", "jax", {C.DETACH, C.CUSTOM_FUNCTION}),  # FLOAT64 only with JAX_ENABLE_X64=1
    # no requires_grad flag, no recorded node objects, no no_grad in tinygrad 0.14; the graph is
    # never freed, so backward may run through it again
    "tinygrad": ("tinygrad", "tinygrad", {C.STORES_GRADIENTS, C.REPEAT_BACKWARD, C.DETACH, C.IN_PLACE, C.MODULES,
                                          C.OPTIMIZERS, C.CUSTOM_FUNCTION}),
    "paddle": ("paddle", "paddlepaddle", set(C) - {C.PYTORCH_API, C.OPTIMIZER_GRADIENTS}),
    # gradients from tapes: no stored .grad, no flag, no nodes, no t.data alias
    "tensorflow": ("tensorflow", "tensorflow-cpu", {C.FREES_GRAPH, C.RETAIN_GRAPH, C.REPEAT_BACKWARD, C.NO_GRAD,
                                                    C.DETACH, C.MODULES, C.OPTIMIZERS, C.CUSTOM_FUNCTION,
                                                    C.FLOAT64}),
    # function transformations only; float64 on the CPU
    "mlx": ("mlx", "mlx", {C.DETACH, C.MODULES, C.OPTIMIZERS, C.CUSTOM_FUNCTION, C.FLOAT64}),
}
NAMES = sorted(ENGINES)
# each imports its engine (seconds): not in the fast subset (-m "not slow")
ENGINE_PARAMS = [pytest.param(name, marks=pytest.mark.slow) for name in NAMES]


def _backend(name):
    if name == "tensorflow":
        tensorflow_process.skip_unless_in_child()
    # find_spec, not importorskip: the adapter must be what imports TensorFlow (it imports triton
    # first; triton imported after TensorFlow segfaults, see tensorflow_backend's docstring)
    if importlib.util.find_spec(ENGINES[name][0]) is None:
        pytest.skip(f"{name} is not installed")
    B = load_backend(name)
    return B, B.available_devices()[0]


@pytest.mark.parametrize("name", ENGINE_PARAMS)
def test_declared_capabilities_are_implemented(name):
    B, _ = _backend(name)
    expected = ENGINES[name][2] | ({C.FLOAT64} if name == "jax" and C.FLOAT64 in B.capabilities else set())
    assert set(B.capabilities) == expected
    for method in EVERY_BACKEND:
        assert callable(getattr(B, method, None)), f"{name}: every backend needs {method}()"
    for cap in B.capabilities:
        missing = [m for m in METHODS.get(cap, ()) if not callable(getattr(B, m, None))]
        assert not missing, f"{name} declares {cap.value} but lacks {missing}"
        if cap in ONE_OF:
            assert any(callable(getattr(B, m, None)) for m in ONE_OF[cap]), f"{name}: {cap.value} needs one of {ONE_OF[cap]}"
    declared = {m for cap in B.capabilities for m in METHODS.get(cap, ())}
    pretended = sorted(m for cap, ms in METHODS.items() if cap not in B.capabilities for m in ms
                       if m not in declared and hasattr(B, m))
    assert not pretended, f"{name} implements {pretended} of capabilities it does not declare"
    if C.MODULES in B.capabilities and hasattr(B, "linear"):
        assert B.linear_layout in ("out_in", "in_out")
        weight, bias = B.linear_parameters(B.linear(3, 2, device="cpu"))
        n_in_first = B.to_numpy(weight).shape == (3, 2)
        assert n_in_first == (B.linear_layout == "in_out"), f"{name}: linear_layout disagrees with the weight's shape"
        assert B.to_numpy(bias).shape == (2,)


@pytest.mark.parametrize("name", ENGINE_PARAMS)
def test_identity(name):
    B, _ = _backend(name)
    assert B.name == name and B.version == version(ENGINES[name][1])
    for dtype in ("float32", "float64"):  # declared, or the documented default
        assert tolerance_for(B, dtype) is (getattr(B, "tolerances", {}) or {}).get(dtype, DEFAULT_TOLERANCES[dtype])


@pytest.mark.parametrize("name", ENGINE_PARAMS)
def test_tensor_round_trip(name):
    B, first = _backend(name)
    assert first == "cpu"
    for device in B.available_devices()[:2]:
        source = np.arange(6, dtype=np.float64).reshape(2, 3) / 4
        t = B.tensor(source, device=device)
        source[0, 0] = 99.0  # the tensor must not alias the caller's array
        got = B.to_numpy(t)
        np.testing.assert_array_equal(got, np.arange(6).reshape(2, 3) / 4)
        assert str(got.dtype) == B.default_float, "float data becomes the engine's default float"
        assert B.device_of(t) == device
        if C.FLOAT64 in B.capabilities:
            assert B.to_numpy(B.tensor(source, device=device, dtype="float64")).dtype == np.float64
        labels = B.to_numpy(B.tensor([1, 2], device=device, dtype="int64"))
        assert labels.dtype.kind == "i" and labels.tolist() == [1, 2]  # JAX narrows int64 to int32
        scalar = B.tensor(2.0, device=device)
        assert B.to_numpy(scalar).shape == () and B.device_of(scalar) == device
    with pytest.raises(ValueError):
        B.tensor([1.0], device="no-such-device")


@pytest.mark.parametrize("name", ENGINE_PARAMS)
def test_operations_match_numpy(name):
    backend, device = _backend(name)
    B = ContractView(backend)  # as the suites see it: matmul and lt default to the operators
    z0, y0 = np.random.RandomState(0).randn(4, 3), np.tile([0.0, 1.0, 1.0], (4, 1))
    z, y = B.tensor(z0, device=device), B.tensor(y0, device=device)
    tol = dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(B.to_numpy(B.bce_with_logits(z, y)),
                               np.mean(np.log1p(np.exp(z0)) - y0 * z0), **tol)
    labels = np.array([0, 2, 1, 2])
    p = np.exp(z0) / np.exp(z0).sum(1, keepdims=True)
    np.testing.assert_allclose(B.to_numpy(B.cross_entropy(z, B.tensor(labels, device=device, dtype="int64"))),
                               -np.mean(np.log(p[np.arange(4), labels])), **tol)
    np.testing.assert_allclose(B.to_numpy(B.mse_loss(z, z * 0, reduction="sum")), np.sum(z0 ** 2), **tol)
    np.testing.assert_allclose(B.to_numpy(B.mse_loss(z, z * 0)), np.mean(z0 ** 2), **tol)
    v, m = B.tensor([1.0, 2.0], device=device), B.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device=device)
    np.testing.assert_allclose(B.to_numpy(B.matmul(v, m)), [9.0, 12.0, 15.0])  # numpy's vector rules
    np.testing.assert_allclose(B.to_numpy(B.matmul(B.reshape(m, (3, 2)), v)), [5.0, 11.0, 17.0])
    np.testing.assert_allclose(B.to_numpy(B.where(B.lt(v, 1.5), v, 0.0)), [1.0, 0.0])
    image = np.arange(32.0).reshape(1, 2, 4, 4)
    pooled = B.to_numpy(B.max_pool2d(B.tensor(image, device=device), 2))
    np.testing.assert_array_equal(pooled, image.reshape(1, 2, 2, 2, 2, 2).max(axis=(3, 5)))
    np.testing.assert_array_equal(B.to_numpy(B.reshape(z, (3, 4))), z0.reshape(3, 4).astype(pooled.dtype))


@pytest.mark.parametrize("name", ENGINE_PARAMS)
def test_vjp_values_default_seed_and_inputs_left_alone(name):
    B, device = _backend(name)
    x = B.tensor([1.0, -2.0, 3.0], device=device, requires_grad=True)
    out, (dx,) = B.vjp(lambda x: B.sum(x * x * x), [x])
    np.testing.assert_allclose(B.to_numpy(out), 20.0)  # 1 - 8 + 27
    np.testing.assert_allclose(B.to_numpy(dx), [3.0, 12.0, 27.0], rtol=1e-6)
    if C.STORES_GRADIENTS in B.capabilities:
        assert B.grad(x) is None, "vjp must not write .grad"
    _, (dx,) = B.vjp(lambda x: B.exp(x), [x], B.tensor([1.0, 0.0, 2.0], device=device))
    np.testing.assert_allclose(B.to_numpy(dx), [np.e, 0.0, 2 * np.e ** 3], rtol=1e-6)
    # the same tensor passed twice is two inputs, each with its own part of the gradient
    _, (da, db) = B.vjp(lambda a, b: B.sum(a * b * b), [x, x])
    np.testing.assert_allclose(B.to_numpy(da), [1.0, 4.0, 9.0], rtol=1e-6)
    np.testing.assert_allclose(B.to_numpy(db), [2.0, 8.0, 18.0], rtol=1e-6)


@pytest.mark.parametrize("name", ENGINE_PARAMS)
def test_vjp_the_seeds_numbers(name):
    B, device = _backend(name)
    x = B.tensor(np.ones((2, 2)), device=device, requires_grad=True)
    out, (dx,) = B.vjp(lambda x: B.mean((x + 2) * (x + 2) * 3), [x])
    np.testing.assert_allclose(B.to_numpy(out), 27.0)
    np.testing.assert_allclose(B.to_numpy(dx), np.full((2, 2), 4.5))  # 001 In [17]
    np.testing.assert_array_equal(B.to_numpy(x), np.ones((2, 2)))
    v = B.tensor([0.1, 1.0, 0.0001], device=device)
    _, (dx,) = B.vjp(lambda x: x * 1024.0, [B.tensor([0.1, 1.7, 0.9], device=device)], v)
    np.testing.assert_allclose(B.to_numpy(dx), [102.4, 1024.0, 0.1024], rtol=1e-6)  # 001 In [32]


@pytest.mark.parametrize("name", ENGINE_PARAMS)
def test_custom_function_uses_its_backward_once(name):
    B, device = _backend(name)
    calls = []

    def forward(a, b):
        return a * b, (a, b)

    def backward(saved, g):
        calls.append(1)
        a, b = saved
        return g * 10, g * a  # d/da deliberately wrong: the rule, not the derivative, must be used

    f = B.custom_function(forward, backward)
    a, b = B.tensor([1.0, 2.0], device=device), B.tensor([3.0, 4.0], device=device)
    out, (da, db) = B.vjp(f, [a, b], B.tensor([1.0, 1.0], device=device))
    np.testing.assert_allclose(B.to_numpy(out), [3.0, 8.0])
    np.testing.assert_allclose(B.to_numpy(da), [10.0, 10.0])
    np.testing.assert_allclose(B.to_numpy(db), [1.0, 2.0])
    assert len(calls) == 1, "one backward call gives the gradients of both inputs"


@pytest.mark.parametrize("name", ENGINE_PARAMS)
def test_expectations_name_only_applicable_claims(name):
    """An expected failure is a concept the engine has and that behaves differently: an entry for a
    claim the adapter's capabilities make not applicable would never run. Each says what the engine
    does instead and links the engine's docs or issue, except where it names a suite limitation."""
    B, _ = _backend(name)
    path = Path(backends.__file__).with_name(f"{name}_expectations.toml")
    for e in expectations.load(path):
        missing = lacking(CLAIMS[e.claim].all_needs, B.capabilities)
        assert not missing, f"{path.name}: {e.claim} is not applicable to {name} (lacks {missing})"
        assert len(e.reason) > 40, f"{e.claim}: the reason must say what the engine does instead"
        if not e.reason.startswith("suite limitation"):
            assert (e.link or "").startswith("https://"), f"{e.claim}: link to the engine's docs or issue"
