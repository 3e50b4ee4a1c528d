"""Unit tests of the mygrad and JAX adapters' mappings, without running the conformance suites.

Each engine's tests are skipped when the engine is not installed."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

from autograd_conformance import backends, expectations
from autograd_conformance.claims import CLAIMS
from autograd_conformance.protocol import EVERY_BACKEND, METHODS, Capability as C
from autograd_conformance.registry import load_backend


ENGINES = {"mygrad": "mygrad", "jax": "jax"}


def _backend(name):
    pytest.importorskip(ENGINES[name])
    return load_backend(name)


@pytest.fixture
def mygrad_backend():
    return _backend("mygrad")


@pytest.fixture
def jax_backend():
    return _backend("jax")


# ------------------------------------------------------------------------------ both adapters

@pytest.mark.parametrize("name", sorted(ENGINES))
def test_declared_capabilities_are_implemented(name):
    B = _backend(name)
    for method in EVERY_BACKEND:
        assert callable(getattr(B, method, None)), f"{name}: every backend needs {method}()"
    for cap, methods in METHODS.items():
        present = [m for m in methods if callable(getattr(B, m, None))]
        if cap in B.capabilities:
            assert present == list(methods), f"{name} declares {cap.value} but lacks {set(methods) - set(present)}"
    leftover = {m for cap, ms in METHODS.items() if cap not in B.capabilities for m in ms} - {
        m for cap in B.capabilities for m in METHODS.get(cap, [])}
    pretended = sorted(m for m in leftover if hasattr(B, m))
    assert not pretended, f"{name} implements {pretended} of capabilities it does not declare"


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_identity(name):
    B = _backend(name)
    engine = importlib.import_module(ENGINES[name])
    assert B.name == name and B.version == engine.__version__
    assert C.PYTORCH_API not in B.capabilities and C.MODULES not in B.capabilities
    assert set(B.tolerances) >= {"float32", "float64"}


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_tensor_round_trip_on_every_device(name):
    B = _backend(name)
    devices = B.available_devices()
    assert devices[0] == "cpu"
    for device in devices:
        source = np.arange(6, dtype=np.float64).reshape(2, 3) / 4
        t = B.tensor(source, device=device)
        source[0, 0] = 99.0  # the tensor must not alias the caller's array
        got = B.to_numpy(t)
        np.testing.assert_array_equal(got, np.arange(6).reshape(2, 3) / 4)
        assert str(got.dtype) == B.default_float
        assert B.device_of(t) == device
        labels = B.to_numpy(B.tensor([1, 2], device=device, dtype="int64"))
        assert labels.dtype.kind == "i" and labels.tolist() == [1, 2]
    with pytest.raises(ValueError):
        B.tensor([1.0], device="no-such-device")


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_operations_match_numpy(name):
    B = _backend(name)
    z0, y0 = np.random.RandomState(0).randn(4, 3), np.array([0.0, 1.0, 1.0])
    z, y = B.tensor(z0, device="cpu"), B.tensor(y0, device="cpu")
    tol = dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(B.to_numpy(B.bce_with_logits(z, y)),
                               np.mean(np.log1p(np.exp(z0)) - y0 * z0), **tol)
    labels = np.array([0, 2, 1, 2])
    p = np.exp(z0) / np.exp(z0).sum(1, keepdims=True)
    np.testing.assert_allclose(B.to_numpy(B.cross_entropy(z, B.tensor(labels, device="cpu", dtype="int64"))),
                               -np.mean(np.log(p[np.arange(4), labels])), **tol)
    np.testing.assert_allclose(B.to_numpy(B.mse_loss(z, z * 0, reduction="sum")), np.sum(z0 ** 2), **tol)
    image = np.arange(32.0).reshape(1, 2, 4, 4)
    pooled = B.to_numpy(B.max_pool2d(B.tensor(image, device="cpu"), 2))
    np.testing.assert_array_equal(pooled, image.reshape(1, 2, 2, 2, 2, 2).max(axis=(3, 5)))
    np.testing.assert_array_equal(B.to_numpy(B.reshape(z, (3, 4))), z0.reshape(3, 4).astype(pooled.dtype))


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_vjp_values_and_default_seed(name):
    B = _backend(name)
    x = B.tensor([1.0, -2.0, 3.0], device="cpu")
    out, (dx,) = B.vjp(lambda x: B.sum(x * x * x), [x])
    np.testing.assert_allclose(B.to_numpy(out), 20.0)  # 1 - 8 + 27
    np.testing.assert_allclose(B.to_numpy(dx), [3.0, 12.0, 27.0], rtol=1e-6)
    _, (dx,) = B.vjp(lambda x: B.exp(x), [x], B.tensor([1.0, 0.0, 2.0], device="cpu"))
    np.testing.assert_allclose(B.to_numpy(dx), [np.e, 0.0, 2 * np.e ** 3], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_custom_function_uses_its_backward_once(name):
    B = _backend(name)
    calls = []

    def forward(a, b):
        return a * b, (a, b)

    def backward(saved, g):
        calls.append(1)
        a, b = saved
        return g * 10, g * a  # d/da deliberately wrong: the rule, not the derivative, must be used

    f = B.custom_function(forward, backward)
    a, b = B.tensor([1.0, 2.0], device="cpu"), B.tensor([3.0, 4.0], device="cpu")
    out, (da, db) = B.vjp(f, [a, b], B.tensor([1.0, 1.0], device="cpu"))
    np.testing.assert_allclose(B.to_numpy(out), [3.0, 8.0])
    np.testing.assert_allclose(B.to_numpy(da), [10.0, 10.0])
    np.testing.assert_allclose(B.to_numpy(db), [1.0, 2.0])
    assert len(calls) == 1, "one backward call gives the gradients of both inputs"


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_expectations_name_only_applicable_claims(name):
    """An expected failure is a concept the engine has and that behaves differently: an entry for a
    claim the adapter's capabilities make not applicable would never run."""
    B = _backend(name)
    path = Path(backends.__file__).with_name(f"{name}_expectations.toml")
    for e in expectations.load(path):
        lacking = [c.value for c in CLAIMS[e.claim].required if c not in B.capabilities]
        assert not lacking, f"{path.name}: {e.claim} is not applicable to {name} (lacks {lacking})"
        assert len(e.reason) > 40 and (e.link or "").startswith("https://"), f"{e.claim}: reason and link"


# ------------------------------------------------------------------------------ mygrad

def test_mygrad_default_float_is_numpys(mygrad_backend):
    import mygrad as mg

    assert mygrad_backend.default_float == str(mg.tensor(1.0).dtype) == "float64"
    assert mygrad_backend.available_devices() == ["cpu"]


def test_mygrad_requires_grad_is_not_constant(mygrad_backend):
    B = mygrad_backend
    tracked = B.tensor([1.0], device="cpu", requires_grad=True)
    plain = B.tensor([1.0], device="cpu", requires_grad=False)
    assert not tracked.constant and plain.constant
    assert not B.tensor([1.0], device="cpu").constant, "mygrad's default for float data: tracked"
    assert B.requires_grad(tracked) and not B.requires_grad(plain) and not B.requires_grad(np.ones(1))
    with pytest.raises(NotImplementedError, match="constant"):
        B.set_requires_grad(plain, True)
    assert plain.constant, "a refused set_requires_grad must leave the tensor as it was"


def test_mygrad_backward_and_grad(mygrad_backend):
    B = mygrad_backend
    x = B.tensor([1.0, 2.0], device="cpu", requires_grad=True)
    y = x * x
    B.backward(B.sum(y))
    np.testing.assert_array_equal(B.grad(x), [2.0, 4.0])
    assert isinstance(B.grad(x), np.ndarray), "mygrad's gradients are numpy arrays, handed out as they are"
    with pytest.raises(NotImplementedError, match="retain_graph"):
        B.backward(B.sum(x * x), retain_graph=True)


def test_mygrad_vjp_leaves_inputs_alone(mygrad_backend):
    B = mygrad_backend
    x = B.tensor([1.0, 2.0], device="cpu", requires_grad=True)
    B.vjp(lambda t: B.sum(t * t), [x])
    assert B.grad(x) is None and B.grad_fn(x) is None and B.requires_grad(x)


def test_mygrad_graph_nodes_are_creators_and_leaves(mygrad_backend):
    B = mygrad_backend
    x = B.tensor([1.0, 2.0], device="cpu", requires_grad=True)
    c = B.tensor([3.0, 4.0], device="cpu", requires_grad=False)
    y = x * c
    node = B.grad_fn(y)
    assert node is y.creator and B.node_name(node) == "Multiply"
    assert B.node_inputs(node) == [x], "the tracked leaf is its own node; the constant input is left out"
    assert B.grad_fn(x) is None and B.node_inputs(x) == []
    z = B.sum(y)
    assert B.node_inputs(B.grad_fn(z)) == [node]


def test_mygrad_no_grad_detach_data_in_place(mygrad_backend):
    B = mygrad_backend
    x = B.tensor([1.0, 2.0, 3.0], device="cpu", requires_grad=True)
    with B.no_grad():
        y = x * 2
    assert B.grad_fn(y) is None
    d = B.detach(x)
    assert not B.requires_grad(d) and np.shares_memory(d.data, x.data)
    B.sub_(d, B.tensor([0.5, 0.5, 0.5], device="cpu"))
    np.testing.assert_array_equal(B.to_numpy(x), [0.5, 1.5, 2.5])
    alias = B.data(x)
    assert alias is x.data and not B.requires_grad(alias)
    B.sub_(alias, np.ones(3))
    np.testing.assert_array_equal(B.to_numpy(x), [-0.5, 0.5, 1.5])
    B.zero_(x)
    np.testing.assert_array_equal(B.to_numpy(x), 0.0)
    assert B.grad_fn(x) is None, "in-place updates under no_autodiff are not recorded"


# ------------------------------------------------------------------------------ JAX

def test_jax_leaves_out_stateful_capabilities(jax_backend):
    stateful = {C.BACKWARD, C.REQUIRES_GRAD, C.RETAIN_GRAPH, C.GRAPH_NODES, C.NO_GRAD, C.IN_PLACE,
                C.MODULES, C.OPTIMIZERS}
    assert not stateful & jax_backend.capabilities
    assert jax_backend.capabilities == {C.DETACH, C.CUSTOM_FUNCTION}


def test_jax_default_float_follows_x64(jax_backend):
    import jax
    import jax.numpy as jnp

    assert jax_backend.default_float == str(jnp.asarray(1.0).dtype)
    with jax.enable_x64(True):
        assert jax_backend.default_float == "float64"
        assert str(jax_backend.to_numpy(jax_backend.tensor([1.0], device="cpu")).dtype) == "float64"
    with jax.enable_x64(False):
        assert jax_backend.default_float == "float32"
        with pytest.raises(TypeError, match="jax_enable_x64"):
            jax_backend.tensor([1.0], device="cpu", dtype="float64")
        labels = jax_backend.tensor([3], device="cpu", dtype="int64")
        assert str(labels.dtype) == "int32", "JAX's own narrowing of int64, values kept"


def test_jax_devices_match_jax(jax_backend):
    import jax

    def devices(platform):
        try:
            return jax.devices(platform)
        except RuntimeError:
            return []

    names = jax_backend.available_devices()
    assert len(names) == sum(len(devices(p)) for p in ("cpu", "gpu", "tpu")), "one name per JAX device"
    assert len(set(names)) == len(names)
    for name in names:
        assert name.split(":")[0] in {"cpu", "cuda", "tpu"}, f"{name}: JAX's 'gpu' platform is spelled 'cuda'"


def test_jax_detach_is_stop_gradient(jax_backend):
    B = jax_backend
    x = B.tensor([1.0, 2.0], device="cpu")
    _, (dx,) = B.vjp(lambda t: B.sum(t * B.detach(t)), [x])
    np.testing.assert_allclose(B.to_numpy(dx), [1.0, 2.0], err_msg="d/dt sum(t * stop_gradient(t)) = t")


def test_jax_to_numpy_reads_concrete_tracers(jax_backend):
    B = jax_backend
    seen = []

    def f(t):
        y = t * 2
        seen.append(B.to_numpy(y))
        return B.sum(y)

    B.vjp(f, [B.tensor([[1.0, 2.0], [3.0, 4.0]], device="cpu")])
    np.testing.assert_array_equal(seen[0], [[2.0, 4.0], [6.0, 8.0]])
    assert seen[0].dtype == np.float32
