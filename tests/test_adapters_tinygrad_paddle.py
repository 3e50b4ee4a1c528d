"""Engine-specific unit tests of the tinygrad and PaddlePaddle adapters (the tests all adapters
share are in test_adapters.py), without running the suites.

Each engine's tests are skipped when the engine is not installed. The tinygrad tests run on the
first device the adapter offers (``cpu`` when clang is installed, else tinygrad's PYTHON device)."""

from __future__ import annotations

import numpy as np
import pytest

from autograd_conformance.protocol import Unsupported
from autograd_conformance.registry import load_backend

pytestmark = pytest.mark.slow  # imports the engines: not in the fast subset (-m "not slow")

ENGINES = {"tinygrad": "tinygrad", "paddle": "paddle"}


def _backend(name):
    pytest.importorskip(ENGINES[name])
    return load_backend(name)


@pytest.fixture
def tg():
    B = _backend("tinygrad")
    return B, B.available_devices()[0]


@pytest.fixture
def pd():
    return _backend("paddle")


# ------------------------------------------------------------------------------ tinygrad

def test_tinygrad_devices():
    B = _backend("tinygrad")
    from tinygrad import Device

    devices = B.available_devices()
    assert "python" in devices, "tinygrad's PYTHON device needs no compiler and always opens"
    assert ("cpu" in devices) == ("CPU" not in B.unavailable)
    if "cpu" in devices:
        assert devices[0] == "cpu"
        assert B._dev("cpu") == "CPU" and Device["CPU"].device == "CPU"
    assert B._dev("python") == "PYTHON"


def test_tinygrad_requires_grad_maps_to_nothing(tg):
    B, device = tg
    tracked = B.tensor([1.0, 2.0], device=device, requires_grad=True)
    plain = B.tensor([3.0, 4.0], device=device)
    assert not hasattr(tracked, "requires_grad"), "tinygrad 0.14 tensors have no requires_grad flag"
    B.backward(B.sum(tracked * plain))
    np.testing.assert_array_equal(B.to_numpy(B.grad(tracked)), [3.0, 4.0])
    np.testing.assert_array_equal(B.to_numpy(B.grad(plain)), [1.0, 2.0])  # every float tensor gets one


def test_tinygrad_in_place_and_detach_share_the_buffer(tg):
    B, device = tg
    w = B.tensor(np.ones(3), device=device)
    B.sub_(B.data(w), B.tensor(np.full(3, 0.25), device=device))
    np.testing.assert_array_equal(B.to_numpy(w), 0.75)
    B.zero_(B.detach(w))
    np.testing.assert_array_equal(B.to_numpy(w), 0.0)


def test_tinygrad_modules_and_optimizers(tg):
    B, device = tg
    net = B.sequential(B.linear(3, 2, device=device), B.relu_layer(), B.flatten_layer())
    names = [n for n, _ in B.named_parameters(net)]
    assert names == ["layers.0.weight", "layers.0.bias"]
    assert B.to_numpy(B.named_parameters(net)[0][1]).shape == (2, 3), "tinygrad's Linear weight is (out, in)"
    assert B.named_parameters(B.relu_layer()) == [] and B.named_parameters(B.flatten_layer()) == []
    plain = B.tensor(np.ones(2), device=device)
    scale = B.parameter(B.tensor(np.ones(2), device=device))
    m = B.module(lambda m, x: x * m.scale + m.shift, scale=scale, shift=plain)
    assert [n for n, _ in B.named_parameters(m)] == ["scale", "shift"], \
        "get_state_dict collects every Tensor attribute, plain ones too"
    w = B.tensor([1.0, 2.0], device=device)
    opt = B.sgd([w], lr=0.5)
    B.backward(B.sum(w * w))
    B.step(opt)  # the adapter supplies Context(TRAINING=1); tinygrad refuses to step without it
    np.testing.assert_allclose(B.to_numpy(w), [0.0, 0.0])
    B.zero_grad(opt)
    assert B.grad(w) is None
    with pytest.raises(Unsupported, match="set_to_none=False"):  # tinygrad has no "fill with zeros"
        B.zero_grad(opt, set_to_none=False)
    with pytest.raises(Unsupported, match="set_to_none=False"):
        B.module_zero_grad(net, set_to_none=False)


# ------------------------------------------------------------------------------ paddle

def test_paddle_devices(pd):
    import paddle

    devices = pd.available_devices()
    assert devices[0] == "cpu"
    assert len([d for d in devices if d.startswith("gpu")]) == (
        paddle.device.cuda.device_count() if paddle.is_compiled_with_cuda() else 0)
    assert pd._place("cpu") == "cpu"


def test_paddle_stop_gradient_mapping(pd):
    tracked = pd.tensor([1.0], device="cpu", requires_grad=True)
    plain = pd.tensor([1.0], device="cpu")
    assert tracked.stop_gradient is False and plain.stop_gradient is True
    assert pd.requires_grad(tracked) and not pd.requires_grad(plain)
    assert pd.set_requires_grad(plain, True) is plain and plain.stop_gradient is False
    assert pd.set_requires_grad(plain, False) is plain and plain.stop_gradient is True
    with pd.no_grad():
        assert not pd.requires_grad(tracked * 2)
    assert pd.requires_grad(tracked * 2)


def test_paddle_graph_nodes(pd):
    x = pd.tensor(np.ones(2), device="cpu", requires_grad=True)
    node = pd.grad_fn(pd.mean(x * x))
    assert pd.node_name(node) == "MeanGradNode"
    assert [pd.node_name(n) for n in pd.node_inputs(node)] == ["MultiplyGradNode"]
    assert pd.node_name(pd.grad_fn(x)) == "GradNodeAccumulation", "a Paddle leaf has its accumulation node"


def test_paddle_modules_and_zero_grad(pd):
    layer = pd.linear(3, 2, device="cpu")
    (_, w), (_, b) = pd.named_parameters(layer)
    assert pd.to_numpy(w).shape == (3, 2), "paddle.nn.Linear's weight is (in, out)"
    plain = pd.tensor(np.ones(2), device="cpu", requires_grad=True)
    scale = pd.parameter(pd.tensor(np.ones(2), device="cpu"))
    m = pd.module(lambda m, x: x * m.scale + m.shift, scale=scale, shift=plain)
    assert [n for n, _ in pd.named_parameters(m)] == ["scale"], "a plain tensor is a buffer, not a parameter"
    pd.backward(pd.sum(layer(pd.tensor(np.ones((1, 3)), device="cpu"))))
    pd.module_zero_grad(layer, set_to_none=False)
    np.testing.assert_array_equal(pd.to_numpy(pd.grad(w)), 0.0)
    pd.module_zero_grad(layer)  # Paddle's own default (clear_gradients()): zeros, not None
    np.testing.assert_array_equal(pd.to_numpy(pd.grad(w)), 0.0)
    pd.module_zero_grad(layer, set_to_none=True)
    assert pd.grad(w) is None and pd.grad(b) is None


def test_paddle_sgd_with_momentum_is_momentum(pd):
    import paddle

    w = pd.tensor([1.0], device="cpu", requires_grad=True)
    assert type(pd.sgd([w], lr=0.1)) is paddle.optimizer.SGD
    assert type(pd.sgd([w], lr=0.1, momentum=0.9)) is paddle.optimizer.Momentum
