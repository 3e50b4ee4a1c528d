"""backward from a module's output: every parameter of every layer kind the seeds use gets its
gradient, equal to numpy backprop (001 In [53] and In [60], the seeds' LeNet).

Weights are read by role (check.linear_values, check.conv_values), gradients compared in the same
orientation, so no engine is held to torch's layout."""

import numpy as np
import pytest

from autograd_conformance import models, references
from autograd_conformance.check import as_in_out, assert_close

claim = pytest.mark.claim
inputs = pytest.mark.inputs
KINDS = [pytest.param(k, marks=pytest.mark.uses(*models.LAYER_KIND_OPERATIONS[k])) for k in models.SEED_LAYER_KINDS]
LENET_USES = pytest.mark.uses("conv2d", "conv2d_parameters", "max_pool2d", "relu", "reshape", "linear",
                              "linear_parameters")


def _parameters_by_role(B, kind, layer):
    weight, bias = (B.linear_parameters if kind == "linear" else B.conv2d_parameters)(layer)
    return weight, bias


def _check_grads(B, steps, named, expected, context):
    """Every registered parameter has a gradient of its shape; each layer's weight and bias equal
    the numpy gradients (a reused layer's summed)."""
    assert named, f"{context}: the module must own parameters"
    for name, p in named:
        g = B.grad(p)
        assert g is not None, f"{context}: {name} must receive a gradient"
        assert B.to_numpy(g).shape == B.to_numpy(p).shape, f"{context}: {name}.grad must have its parameter's shape"
    checked = set()
    for kind, layer in steps:
        if kind not in ("linear", "conv") or id(layer) in checked:
            continue
        checked.add(id(layer))
        weight, bias = _parameters_by_role(B, kind, layer)
        want_w, want_b = expected[id(layer)]
        got_w = B.to_numpy(B.grad(weight))
        got_w = as_in_out(B, got_w) if kind == "linear" else got_w
        assert_close(B, got_w, want_w, what=f"{context}: {kind} weight.grad vs numpy backprop", relative_to="max")
        assert_close(B, B.grad(bias), want_b, what=f"{context}: {kind} bias.grad vs numpy backprop", relative_to="max")
    assert len(named) == 2 * len(checked), \
        f"{context}: expected a weight and a bias for each of {len(checked)} layers, got {[n for n, _ in named]}"


@claim("backward.module-vjp-fills-param-grads")
@inputs("random")
@pytest.mark.parametrize("kind", KINDS)
def test_module_vjp_fills_param_grads(B, device, rng, kind):
    net, x, steps = models.layer_of_kind(B, device, kind, rng)
    out = net(x)
    v0 = rng.standard_normal(B.to_numpy(out).shape)
    B.backward(out, B.tensor(v0, device=device))
    _, expected = references.numpy_chain(B, steps, B.to_numpy(x).astype(np.float64), v0)
    _check_grads(B, steps, B.named_parameters(net), expected, f"{kind}: out.backward(v)")


def _lenet_steps(net):
    return [("conv", net.conv1), ("relu", None), ("pool", None), ("conv", net.conv2), ("relu", None),
            ("pool", None), ("flatten", None), ("linear", net.fc1), ("relu", None), ("linear", net.fc2),
            ("relu", None), ("linear", net.fc3)]


LENET_WORKLOAD = 6 * 30 * 30 * 9 + 16 * 13 * 13 * 54 + 576 * 120 + 120 * 84 + 84 * 10


@claim("backward.lenet-grads")
@inputs("seed")
@pytest.mark.workload(LENET_WORKLOAD)
@LENET_USES
def test_lenet_backward_from_output(B, device, rng):
    """001 In [52]-[53]: input randn(1, 1, 32, 32); net.zero_grad(); out.backward(randn(1, 10)) (on a
    new net, whose gradients are empty already)."""
    net = models.lenet(B, device)
    x = B.tensor(rng.standard_normal((1, 1, 32, 32)), device=device)
    v0 = rng.standard_normal((1, 10))
    B.backward(net(x), B.tensor(v0, device=device))
    named = B.named_parameters(net)
    assert len(named) == 10, f"LeNet owns 10 parameter tensors, got {len(named)}"
    _, expected = references.numpy_chain(B, _lenet_steps(net), B.to_numpy(x).astype(np.float64), v0)
    _check_grads(B, _lenet_steps(net), named, expected, "LeNet out.backward(v)")


@claim("backward.lenet-grads")
@inputs("random")
@pytest.mark.workload(2 * LENET_WORKLOAD)
@LENET_USES
def test_lenet_loss_backward_conv_bias(B, device, rng):
    """001 In [55] and In [60]: an MSE loss (mean((out - target)^2), here written out) against a
    random target; after loss.backward() conv1.bias.grad is populated and not zero (on a batch of 2,
    with random data)."""
    net = models.lenet(B, device)
    x = B.tensor(rng.standard_normal((2, 1, 32, 32)), device=device)
    target0 = rng.standard_normal((2, 10))
    out = net(x)
    B.backward(B.sum((out - B.tensor(target0, device=device)) ** 2) / float(target0.size))
    _, conv1_bias = B.conv2d_parameters(net.conv1)
    g = B.grad(conv1_bias)
    assert g is not None, "conv1.bias.grad must be populated after loss.backward()"
    assert np.all(B.to_numpy(g) != 0), f"conv1.bias.grad must be non-zero, got {B.to_numpy(g)}"
    seed = 2 * (B.to_numpy(out).astype(np.float64) - target0) / target0.size  # d MSE / d out
    _, expected = references.numpy_chain(B, _lenet_steps(net), B.to_numpy(x).astype(np.float64), seed)
    _check_grads(B, _lenet_steps(net), B.named_parameters(net), expected, "LeNet loss.backward()")
