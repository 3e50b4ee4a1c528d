"""Modules and parameters: what the seeds' models register, in which order, and their shapes.

Every model is built through the backend: B.module(forward, **attributes) for the seeds' custom
nn.Module classes, B.sequential for their nn.Sequential stacks. Parameter counts are the sum of
the element counts of B.named_parameters; the golden numbers are the seeds' own."""

import math

import numpy as np
import pytest

from autograd_conformance import gradients, models
from autograd_conformance.assertions import assert_close, assert_engine_refuses, nonempty
from autograd_conformance.models import as_in_out, linear_forward, linear_values
from autograd_conformance.models import D_IN, D_OUT, H
from autograd_conformance.protocol import Capability

claim = pytest.mark.claim
uses = pytest.mark.uses
KINDS = [pytest.param(k, marks=uses(*models.LAYER_KIND_OPERATIONS[k])) for k in models.SEED_LAYER_KINDS]


def _count(B, m) -> int:
    return sum(int(B.to_numpy(p).size) for _, p in B.named_parameters(m))


def _shape(B, t) -> tuple:
    return tuple(B.to_numpy(t).shape)


def _tracks(B) -> bool:
    return Capability.REQUIRES_GRAD in B.capabilities


# ------------------------------------------------------------------------------ the Linear layer

@claim("modules.linear-computes-affine")
@pytest.mark.checks("linear", "linear_parameters")
@pytest.mark.parametrize("shape", [(6, 4), (1, 5), (3, 1)], ids=["6x4", "1x5", "3x1"])
def test_linear_computes_affine(B, device, rng, shape):
    """001 In [48]'s "affine operation: y = Wx + b" at random inputs of both signs: the output from
    the layer's own weight and bias (read by role), the gradient of its input, and its weight's and
    bias's gradients wherever the engine keeps them."""
    n_in, n_out = shape
    layer = B.linear(n_in, n_out, device=device)
    x = B.tensor(rng.standard_normal((5, n_in)) * 2, device=device)
    g = B.tensor(rng.standard_normal((5, n_out)), device=device)
    x64, g64 = (B.to_numpy(t).astype(np.float64) for t in (x, g))
    w64, _ = linear_values(B, layer)
    assert_close(B, layer(x), linear_forward(B, layer, x64), what="Linear(x) vs x W + b")
    _, (dx,) = B.vjp(lambda x: B.sum(layer(x) * g), [x])
    assert_close(B, dx, g64 @ w64.T, what="the gradient of the input, g W^T")
    grads = gradients.module_grads(B, layer, lambda: B.sum(layer(x) * g))
    weight, bias = B.linear_parameters(layer)  # read after: an engine may have put in new arrays
    by_object = {id(p): grads[name] for name, p in B.named_parameters(layer)}
    assert by_object.get(id(weight)) is not None and by_object.get(id(bias)) is not None, \
        "the layer's weight and bias must be its registered parameters and get gradients"
    assert_close(B, as_in_out(B, B.to_numpy(by_object[id(weight)])), x64.T @ g64, what="the weight's gradient, x^T g")
    assert_close(B, by_object[id(bias)], g64.sum(axis=0), what="the bias's gradient, g summed over the batch")


# ------------------------------------------------------------------------------ MyNet

MYNET_PARAMS, NEURAL_NETWORK_PARAMS = 407_050, 669_706


@claim("modules.mynet-param-counts")
@pytest.mark.workload(MYNET_PARAMS)
@pytest.mark.optional('requires_grad')
def test_mynet_param_counts(B, device):
    net = models.mynet(B, device)
    per_layer = {"linear1": 0, "linear2": 0}
    for name, p in B.named_parameters(net):
        layer = name.split(".", 1)[0]
        assert layer in per_layer, f"only linear1 and linear2 own parameters, got {name!r}"
        per_layer[layer] += int(B.to_numpy(p).size)
        if _tracks(B):
            assert B.requires_grad(p), f"{name} must be trainable (requires grad)"
    assert per_layer == {"linear1": 401_920, "linear2": 5_130}, \
        f"expected Linear(784, 512) 401,920 and Linear(512, 10) 5,130 parameters, got {per_layer}"
    assert _count(B, net) == 407_050, f"expected 407,050 parameters in all, got {_count(B, net):,}"
    for kind, layer in (("Flatten", net.flatten), ("ReLU", net.relu)):
        assert B.named_parameters(layer) == [], f"{kind} must own no parameters"


@claim("modules.mynet-output-shapes")
@pytest.mark.parametrize("batch", [pytest.param(b, marks=pytest.mark.workload(models.mynet_workload(b))) for b in (1, 16)])
def test_mynet_output_shapes(B, device, rng, batch):
    net = models.mynet(B, device)
    x = B.tensor(rng.random((batch, 28, 28)), device=device)
    shapes = []
    for _, layer in models.mynet_layers(net):
        x = layer(x)
        shapes.append(_shape(B, x))
    assert shapes == [(batch, 784), (batch, 512), (batch, 512), (batch, 10)], \
        f"expected [B, 784], [B, 512], [B, 512], [B, 10] for B = {batch}, got {shapes}"
    assert _shape(B, net(B.tensor(rng.random((batch, 28, 28)), device=device))) == (batch, 10)


@claim("modules.summary-sizes")
@pytest.mark.workload(models.mynet_workload(2))
def test_summary_sizes(B, device, rng):
    """torchsummary (sksq96/pytorch-summary, summary_string, release 1.5.1): forward hooks on every
    sub-module except the model itself and containers record output shapes, in call order, with
    the batch axis replaced by batch_size = -1; then
      input  = |prod(input_size) * batch_size| * 4 / 1024**2
      fwd/bw = |2 * sum over layers of prod(output_shape)| * 4 / 1024**2   ("x2 for gradients")
      params = total_params * 4 / 1024**2,  total = input + fwd/bw + params (unrounded),
    each printed with %0.2f. It feeds a batch of 2; |batch -1| makes every count per sample."""
    net = models.mynet(B, device)
    input_size = (28, 28)
    x = B.tensor(rng.random((2, *input_size)), device=device)  # torchsummary's batch of 2
    output_elements = 0
    for kind, layer in models.mynet_layers(net):
        x = layer(x)
        out = B.to_numpy(x)
        assert out.shape[0] == 2, f"{kind} must keep the batch axis, got shape {out.shape}"
        assert out.dtype.itemsize == 4, f"{kind} output must be float32 (4 bytes), got {out.dtype}"
        output_elements += math.prod(out.shape[1:])
    params = [B.to_numpy(p) for _, p in B.named_parameters(net)]
    assert all(p.dtype.itemsize == 4 for p in params), "parameters must be float32 (4 bytes)"
    total_params = sum(p.size for p in params)

    mb = 1024 ** 2
    input_mb = math.prod(input_size) * 4 / mb
    forward_backward_mb = 2 * output_elements * 4 / mb
    params_mb = total_params * 4 / mb
    figures = {"input": input_mb, "forward/backward": forward_backward_mb, "params": params_mb,
               "total": input_mb + forward_backward_mb + params_mb}
    printed = {k: "%0.2f" % v for k, v in figures.items()}
    assert printed == {"input": "0.00", "forward/backward": "0.01", "params": "1.55", "total": "1.57"}, \
        (f"expected the seed's 0.00 / 0.01 / 1.55 / 1.57 MB, got {printed} from {output_elements} "
         f"output elements per sample and {total_params:,} parameters")


# ------------------------------------------------------------------------------ LeNet

LENET_WORKLOAD = 6 * 30 * 30 * 9 + 16 * 13 * 13 * 54 + 576 * 120 + 120 * 84 + 84 * 10


@claim("modules.lenet-shapes")
@pytest.mark.workload(LENET_WORKLOAD)
def test_lenet_shapes(B, device, rng):
    trace = []
    net = models.lenet(B, device, trace)
    out = net(B.tensor(rng.standard_normal((1, 1, 32, 32)), device=device))
    assert trace == [("conv1", (1, 6, 30, 30)), ("pool1", (1, 6, 15, 15)),
                     ("conv2", (1, 16, 13, 13)), ("pool2", (1, 16, 6, 6))], \
        f"expected 6@30x30, 6@15x15, 16@13x13, 16@6x6 for a 32x32 input, got {trace}"
    assert math.prod(trace[-1][1][1:]) == 576, "fc1 takes 16*6*6 = 576 features"
    assert _shape(B, out) == (1, 10), f"expected output shape (1, 10), got {_shape(B, out)}"


@claim("modules.hooks-fire-in-call-order")
@pytest.mark.workload(models.mynet_workload(2, hidden=32))
@uses("flatten_layer", "linear", "relu_layer")
def test_hooks_fire_in_call_order(B, device, rng):
    """000 In [80] assigns flatten, linear1, linear2, relu; In [81]'s torchsummary table, made by
    forward hooks, lists Flatten, Linear, ReLU, Linear: the order forward calls them."""
    net = models.mynet(B, device, hidden=32)
    fired = []
    for name in ("flatten", "linear1", "linear2", "relu"):  # the order of assignment
        getattr(net, name).register_forward_hook(lambda module, args, out, name=name: fired.append(name))
    net(B.tensor(rng.random((2, 28, 28)), device=device))
    assert fired == ["flatten", "linear1", "relu", "linear2"], \
        f"forward hooks must fire in call order (flatten, linear1, relu, linear2), fired {fired}"


@claim("modules.lenet-printed-structure")
@pytest.mark.workload(LENET_WORKLOAD)
def test_lenet_printed_structure(B, device):
    """001 In [49]: print(net)."""
    lines = [line.strip() for line in repr(models.lenet(B, device)).splitlines()]
    want = ["(conv1): Conv2d(1, 6, kernel_size=(3, 3), stride=(1, 1))",
            "(conv2): Conv2d(6, 16, kernel_size=(3, 3), stride=(1, 1))",
            "(fc1): Linear(in_features=576, out_features=120, bias=True)",
            "(fc2): Linear(in_features=120, out_features=84, bias=True)",
            "(fc3): Linear(in_features=84, out_features=10, bias=True)"]
    assert lines[1:-1] == want, "print(net) must list LeNet's layers as 001 In [49] shows:\n" + "\n".join(lines)


@claim("modules.lenet-parameters")
@pytest.mark.workload(LENET_WORKLOAD)
def test_lenet_parameters(B, device):
    net = models.lenet(B, device)
    named = B.named_parameters(net)
    assert len(named) == 10, f"expected 10 parameter tensors (weight and bias of 5 layers), got {len(named)}"
    layers = [name.split(".", 1)[0] for name, _ in named]
    assert layers == ["conv1", "conv1", "conv2", "conv2", "fc1", "fc1", "fc2", "fc2", "fc3", "fc3"], \
        f"expected parameters in the order the layers were assigned, got {[n for n, _ in named]}"
    assert _shape(B, named[0][1]) == (6, 1, 3, 3), \
        f"params[0] is conv1's weight, expected shape (6, 1, 3, 3), got {_shape(B, named[0][1])}"
    sizes = [int(B.to_numpy(p).size) for _, p in named]
    assert sizes == [54, 6, 864, 16, 69_120, 120, 10_080, 84, 840, 10], f"element counts in order: {sizes}"
    assert sum(sizes) == 81_194, f"expected 81,194 parameters, got {sum(sizes):,}"


# ------------------------------------------------------------------------------ other seed models

@claim("modules.lenet-rejects-28x28")
@pytest.mark.workload(LENET_WORKLOAD)
@uses("conv2d", "max_pool2d", "relu", "reshape")
def test_lenet_rejects_28x28(B, device, rng):
    """001 before In [52]: LeNet expects 32x32 inputs; a 28x28 image (MNIST's) must be resized."""
    net = models.lenet(B, device)
    x = B.tensor(rng.standard_normal((1, 1, 28, 28)), device=device)
    assert_engine_refuses(lambda: net(x), "LeNet on a 28x28 input (16*5*5 = 400 features where fc1 takes 576)")


@claim("modules.lenet-rejects-28x28")
def test_linear_rejects_wrong_width(B, device, rng):
    """Any Linear layer, given fewer or more features than it takes."""
    for _ in range(3):
        n_in, n_out = (int(n) for n in rng.integers(2, 9, 2))
        layer = B.linear(n_in, n_out, device=device)
        for width in (n_in - 1, n_in + int(rng.integers(1, 4))):
            x = B.tensor(rng.standard_normal((3, width)), device=device)
            assert_engine_refuses(lambda: layer(x), f"Linear({n_in}, {n_out}) on a (3, {width}) input")


@claim("modules.neuralnetwork-parameters")
@pytest.mark.workload(NEURAL_NETWORK_PARAMS)
def test_neuralnetwork_parameters(B, device):
    net, linears = models.neural_network(B, device)
    assert _count(B, net) == 669_706, f"expected 669,706 parameters, got {_count(B, net):,}"
    params = [p for _, p in B.named_parameters(net)]
    assert len(params) == 6, f"expected 6 parameter tensors, got {len(params)}"
    # 002 In [300] reads list(model.parameters())[3]: the second Linear's bias. Each index holds
    # one tensor: the layers in order, each weight before its bias (nn.Linear registers them so).
    expected = [(f"Linear {k + 1}'s {part}", t) for k, layer in enumerate(linears)
                for part, t in zip(("weight", "bias"), B.linear_parameters(layer))]
    for index, (p, (what, t)) in enumerate(zip(params, expected)):
        assert p is t, f"parameters()[{index}] must be {what}, got a tensor of shape {_shape(B, p)}"
    assert _shape(B, params[3]) == (512,), f"parameters()[3] has shape (512,), got {_shape(B, params[3])}"


@claim("modules.two-layer-parameters")
@pytest.mark.workload(4 * (D_IN * H + 2 * H * H + H * D_OUT))
@pytest.mark.parametrize("model, expected", [
    ("Sequential", 101_110), ("TwoLayerNet", 101_110), ("DynamicNet", 111_210)])
def test_two_layer_parameters(B, device, rng, model, expected):
    build = {"Sequential": models.two_layer_sequential, "TwoLayerNet": models.two_layer_net, "DynamicNet": models.dynamic_net}
    net = build[model](B, device)
    out = net(B.tensor(rng.standard_normal((4, D_IN)), device=device))
    assert _shape(B, out) == (4, D_OUT)
    assert _count(B, net) == expected, f"expected {model} to have {expected:,} parameters, got {_count(B, net):,}"


@claim("modules.parameters-trainable")
@pytest.mark.parametrize("kind", models.SEED_LAYER_KINDS)
def test_parameters_trainable(B, device, rng, kind):
    layer, _, steps = models.layer_of_kind(B, device, kind, rng)
    named = nonempty(f"{kind} parameters", B.named_parameters(layer))
    assert len(named) == 2 * len({id(l) for _, l in steps if l is not None}), \
        f"{kind}: a weight and a bias per layer (a reused layer counts once), got {[n for n, _ in named]}"
    for name, p in named:
        assert B.requires_grad(p), f"{kind}.{name} must require grad by default"


@claim("modules.parameters-trainable")
@uses("linear")
def test_inputs_untracked_loss_tracked(B, device, rng):
    x = B.tensor(rng.standard_normal((4, 5)), device=device)
    y = B.tensor(rng.standard_normal((4, 3)), device=device)
    assert not B.requires_grad(x) and not B.requires_grad(y), "inputs and targets are created untracked"
    loss = B.sum((B.linear(5, 3, device=device)(x) - y) ** 2)
    assert B.requires_grad(loss), "the loss is tracked through the parameters alone"


# ------------------------------------------------------------------------------ custom layers

@claim("modules.parameter-registered")
@pytest.mark.optional("requires_grad")
@pytest.mark.parametrize("order", [("alpha", "beta", "gamma"), ("gamma", "alpha", "beta")], ids=["abc", "cab"])
def test_parameter_registered_in_order(B, device, rng, order):
    """Parameters under plain names (the seed's `weights` is a name some module classes reserve),
    three of them, in two orders: named_parameters lists the module's own tensors in assignment order."""
    attrs = {name: B.parameter(B.tensor(rng.standard_normal(3), device=device)) for name in order}
    _check_registered(B, B.module(lambda m, x: x * m.alpha + m.beta * m.gamma, **attrs), order)


def _check_registered(B, layer, order):
    """named_parameters(layer) lists the module's own tensors, named as assigned, in assignment
    order, each tracked where the engine has the flag."""
    named = B.named_parameters(layer)
    assert [name for name, _ in named] == list(order), \
        f"expected parameters {list(order)} in assignment order, got {[n for n, _ in named]}"
    for name, p in named:
        assert p is getattr(layer, name), f"{name}: named_parameters must give the module's own tensor"
        if _tracks(B):
            assert B.requires_grad(p), f"{name}: a registered parameter must require grad"


@claim("modules.parameter-registered")
@pytest.mark.parametrize("order", [("weights", "bias"), ("bias", "weights")], ids=["weights-first", "bias-first"])
@pytest.mark.optional('requires_grad')
def test_parameter_registered(B, device, rng, order):
    """003 § torch.nn.Parameter: MyLiner's weights and bias, assigned in either order."""
    _check_registered(B, models.my_liner(B, device, rng, order=order), order)


def _check_plain_not_trained(B, layer, x, plain="weights", param="bias"):
    plain0, param0 = B.to_numpy(getattr(layer, plain)).copy(), B.to_numpy(getattr(layer, param)).copy()
    opt = B.sgd(layer, lr=0.1)  # torch: SGD(layer.parameters())
    gradients.train_step(B, opt, layer, lambda: B.sum(layer(x) * layer(x)))  # wherever gradients live
    np.testing.assert_array_equal(B.to_numpy(getattr(layer, plain)), plain0,
                                  err_msg="the plain tensor must not be updated by an optimizer built from parameters()")
    assert not np.array_equal(B.to_numpy(getattr(layer, param)), param0), \
        "the registered parameter must be updated (otherwise the test proves nothing)"


@claim("modules.plain-tensor-not-registered")
def test_plain_tensor_not_registered_core(B, device, rng):
    """The seed's layer elementwise, its attributes named plainly: w a plain (tracked) tensor, b a
    parameter."""
    w = B.tensor(rng.standard_normal(7), device=device, requires_grad=True)
    b = B.parameter(B.tensor(rng.standard_normal(7), device=device))
    layer = B.module(lambda m, x: m.w * x + m.b, w=w, b=b)
    named = B.named_parameters(layer)
    assert [name for name, _ in named] == ["b"], \
        f"only the parameter (b) may be registered, got {[n for n, _ in named]}"
    _check_plain_not_trained(B, layer, B.tensor(rng.standard_normal(7) * 2, device=device), plain="w", param="b")


@claim("modules.plain-tensor-not-registered")
@uses("matmul")
def test_plain_tensor_not_registered(B, device, rng):
    """003 § custom layer's MyLiner with Tensor(...) instead of Parameter(...)."""
    only_plain = models.my_liner(B, device, rng, plain=("weights", "bias"))
    assert B.named_parameters(only_plain) == [], "a module holding only plain tensors has no parameters"

    layer = models.my_liner(B, device, rng, plain=("weights",))  # weights plain (tracked), bias a parameter
    named = B.named_parameters(layer)
    assert [name for name, _ in named] == ["bias"], \
        f"only the parameter (bias) may be registered, got {[n for n, _ in named]}"
    _check_plain_not_trained(B, layer, B.tensor(rng.standard_normal((5, 7)), device=device))


@claim("modules.custom-layer-forward-only")
@uses("matmul")
def test_custom_layer_forward_only(B, device, rng):
    """003 § custom layer: MyLiner(7, 12) defines forward (x @ W + b) only; the gradients of
    sum(out * g), the vector-Jacobian product with g, wherever the engine keeps them."""
    layer = models.my_liner(B, device, rng)
    x0, g0 = rng.standard_normal((5, 7)), rng.standard_normal((5, 12))
    x, g = B.tensor(x0, device=device), B.tensor(g0, device=device)
    out = layer(x)
    assert _shape(B, out) == (5, 12), f"MyLiner(7, 12) maps (5, 7) to (5, 12), got {_shape(B, out)}"
    grads = gradients.module_grads(B, layer, lambda: B.sum(layer(x) * g))
    x64, g64 = B.to_numpy(x).astype(np.float64), B.to_numpy(g).astype(np.float64)
    assert grads["weights"] is not None and grads["bias"] is not None, \
        "autograd must give gradients to the parameters of a layer that defines only forward"
    assert_close(B, grads["weights"], x64.T @ g64, what="dW = x^T g")
    assert_close(B, grads["bias"], g64.sum(axis=0), what="db = sum over the batch of g")


@claim("modules.custom-layer-forward-only")
def test_custom_layer_forward_only_core(B, device, rng):
    """A custom layer w x^2 + b (elementwise, forward only) at inputs of both signs: dW = g x^2,
    db = g, from autograd alone."""
    w = B.parameter(B.tensor(rng.standard_normal(7), device=device))
    b = B.parameter(B.tensor(rng.standard_normal(7), device=device))
    layer = B.module(lambda m, x: m.w * x * x + m.b, w=w, b=b)
    x, g = B.tensor(rng.standard_normal(7) * 2, device=device), B.tensor(rng.standard_normal(7), device=device)
    grads = gradients.module_grads(B, layer, lambda: B.sum(layer(x) * g))
    x64, g64 = B.to_numpy(x).astype(np.float64), B.to_numpy(g).astype(np.float64)
    assert grads["w"] is not None and grads["b"] is not None, \
        "autograd must give gradients to the parameters of a layer that defines only forward"
    assert_close(B, grads["w"], g64 * x64 ** 2, what="dW = g x^2")
    assert_close(B, grads["b"], g64, what="db = g")


@claim("modules.parameter-is-tensor-with-no-name")
def test_parameter_is_tensor_with_no_name(B, device, rng):
    tensor_type = type(B.tensor(np.zeros(1), device=device))
    layer = models.my_liner(B, device, rng)
    regression = B.module(lambda m, x: m.linear(x), linear=B.linear(1, 1, device=device))  # 003 LinearRegression
    for model in (layer, regression):
        for name, p in nonempty("parameters", B.named_parameters(model)):
            assert isinstance(p, tensor_type), \
                f"{name}: a parameter must be an instance of the tensor type {tensor_type.__name__}, got {type(p)}"
            assert p.name is None, f"{name}: a parameter's .name must be None, got {p.name!r}"


@claim("modules.flatten-single-sample")
@pytest.mark.workload(NEURAL_NETWORK_PARAMS)
@uses("linear", "relu_layer")
def test_flatten_single_sample(B, device, rng):
    """002 In [300]: a ToTensor item [1, 28, 28] fed to the NeuralNetwork without a batch axis."""
    image = B.tensor(rng.random((1, 28, 28)), device=device)  # one ToTensor item, no batch axis
    flat = B.flatten_layer()(image)
    assert _shape(B, flat) == (1, 784), f"Flatten of [1, 28, 28] must give [1, 784], got {_shape(B, flat)}"
    net, _ = models.neural_network(B, device)
    logits = net(image)
    assert _shape(B, logits) == (1, 10), f"the single image must give logits [1, 10], got {_shape(B, logits)}"


@claim("modules.flatten-single-sample")
@pytest.mark.workload(NEURAL_NETWORK_PARAMS)
@uses("linear", "relu_layer", "cross_entropy")
def test_flatten_single_sample_loss(B, device, rng):
    """002 In [300] goes on to a cross-entropy against the label of that one image (shape [1])."""
    image = B.tensor(rng.random((1, 28, 28)), device=device)
    net, _ = models.neural_network(B, device)
    logits = net(image)
    assert _shape(B, logits) == (1, 10), f"the single image must give logits [1, 10], got {_shape(B, logits)}"
    loss = B.to_numpy(B.cross_entropy(logits, B.tensor([3], device=device, dtype="int64")))
    assert np.size(loss) == 1 and np.all(np.isfinite(loss)), "cross-entropy against a label of shape [1] must work"
