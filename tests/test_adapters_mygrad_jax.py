"""Engine-specific unit tests of the mygrad and JAX adapters (the tests all adapters share are in
test_adapters.py), without running the conformance suites.

Each engine's tests are skipped when the engine is not installed."""

from __future__ import annotations

import numpy as np
import pytest

from autograd_conformance.protocol import Capability as C, Unsupported
from autograd_conformance.registry import load_backend

pytestmark = pytest.mark.slow  # imports the engines: not in the fast subset (-m "not slow")


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
    assert not hasattr(B, "set_requires_grad"), "Tensor.constant is read-only: nothing to map"


def test_mygrad_backward_and_grad(mygrad_backend):
    B = mygrad_backend
    x = B.tensor([1.0, 2.0], device="cpu", requires_grad=True)
    y = x * x
    B.backward(B.sum(y))
    np.testing.assert_array_equal(B.grad(x), [2.0, 4.0])
    assert isinstance(B.grad(x), np.ndarray), "mygrad's gradients are numpy arrays, handed out as they are"
    with pytest.raises(Unsupported, match="retain_graph"):  # not applicable: mygrad always frees its graph
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
    stateful = {C.STORES_GRADIENTS, C.REQUIRES_GRAD, C.RETAIN_GRAPH, C.GRAPH_NODES, C.NO_GRAD, C.IN_PLACE,
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
        with pytest.raises(Unsupported, match="jax_enable_x64"):  # not applicable: a variant JAX lacks here
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
