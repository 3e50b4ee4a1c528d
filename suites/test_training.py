"""Training convergence: the seeds' training loops lower their losses and learn.

Thresholds are relations that hold for any random draw (checked over many numpy/torch seeds),
not numbers copied from a run: a loss must fall below a fraction of where it started, with a wide
margin. The two-layer nets run 30 steps instead of the seeds' 500 to keep the suite fast.

An optimizer step is gradients.train_step: the seeds' zero_grad / backward / step where the engine
stores gradients (or its optimizer holds them), value_and_grad then apply_gradients where it
returns them (a tape, a function transformation), as in test_optimizers.py.

Each claim runs on the seed's own net (Linear layers, matmul, relu, MSE or cross-entropy, declared)
and on a net in the core vocabulary: the bilinear elementwise net y = x w1 w2 with a squared error,
whose loss gradient descent lowers just as surely.

004 § 8: DynamicNet (its middle layer reused a random 0 to 3 times in each forward) trained with
MSELoss(reduction='sum') and SGD(lr 1e-4, momentum 0.9), at the seed's sizes, against the same
training written in numpy: backprop by hand (references.numpy_dynamic_grads) and the momentum rule.
The core form is DynamicNet's structure elementwise (references.numpy_elementwise_dynamic_grads)
with a summed squared error. Gradients are kept where the engine keeps them between backward and
step: on the parameters, or in the optimizer (gradients.KeptGradients).
"""

import math

import numpy as np
import pytest

from autograd_conformance import gradients, models, references
from autograd_conformance.assertions import assert_close, tolerance_for
from autograd_conformance.models import linear_values
from autograd_conformance.gradients import KeptGradients
from autograd_conformance.models import D_IN, D_OUT, H, N, TWO_LAYER_WORKLOAD as WORKLOAD

claim = pytest.mark.claim
uses = pytest.mark.uses

STEPS = 30


def _value(B, t) -> float:
    return float(np.asarray(B.to_numpy(t)).reshape(()))


def _core_data(B, device, n=256):
    rng = np.random.default_rng(0)  # its own: no test order or plugin changes it
    return [B.tensor(rng.standard_normal(n), device=device) for _ in range(4)]  # x, y, w1, w2


def _core_module(B, device):
    x, y, w1, w2 = _core_data(B, device)
    model = B.module(lambda m, x: x * m.w1 * m.w2, w1=B.parameter(w1), w2=B.parameter(w2))
    return model, x, y


def _core_losses(B, model, opt, x, y, steps=STEPS) -> list[float]:
    def loss_fn():
        return B.sum((model(x) - y) ** 2)

    losses = [_value(B, gradients.train_step(B, opt, model, loss_fn)) for _ in range(steps)]
    return losses + [_value(B, loss_fn())]


# ------------------------------------------------------------------------ linear regression

@claim("training.linreg-fits")
@pytest.mark.parametrize("loss", [pytest.param("mse_loss", marks=uses("mse_loss")), "mean of squares"])
@uses("linear", "linear_parameters")
def test_linreg_fits(B, device, loss):
    """003: y = 2x + 1 on x = 0..10, Linear(1, 1), MSELoss (or the same mean of squares written out),
    SGD(lr 0.01)."""
    lr = 0.01
    x0 = np.arange(11, dtype=np.float32).reshape(-1, 1)
    x, y = B.tensor(x0, device=device), B.tensor(2 * x0 + 1, device=device)
    model = B.linear(1, 1, device=device)
    weight, bias = B.linear_parameters(model)  # read again after steps: an engine may put in new arrays
    opt = B.sgd(model, lr=lr)

    def loss_fn():
        return B.mse_loss(model(x), y) if loss == "mse_loss" else B.sum((model(x) - y) ** 2) / 11.0

    def epoch():
        return gradients.train_step(B, opt, model, loss_fn)

    # "Enough epochs": gradient descent on this quadratic maps the error e = (w - 2, b - 1) to
    # (I - 2 lr A) e with A = [[mean x^2, mean x], [mean x, 1]]; that matrix is symmetric, so
    # |e| shrinks at least by its spectral radius rho every epoch. Run until rho^k |e0| is below
    # half the tolerance on b = 1; the slow direction (mostly the bias) needs ~2,000 epochs.
    x1 = x0[:, 0].astype(np.float64)
    a = np.array([[np.mean(x1 * x1), np.mean(x1)], [np.mean(x1), 1.0]])
    rho = max(abs(np.linalg.eigvalsh(np.eye(2) - 2 * lr * a)))
    tol = tolerance_for(B, str(B.to_numpy(weight).dtype))
    e0 = math.hypot(_value(B, weight) - 2, _value(B, bias) - 1)
    epochs = max(100, math.ceil(math.log((tol.atol + tol.rtol) / 2 / e0) / math.log(rho)))

    # The seed's 100 epochs: late in them the loss falls by a factor and the error lies along a
    # direction that only the data and lr fix (references.linreg_dynamics; the seed's printed
    # numbers agree, tests/test_references.py).
    factor, direction = references.linreg_dynamics(x0, lr)
    losses = [_value(B, epoch()) for _ in range(100)]
    w100, b100 = (_value(B, t) for t in B.linear_parameters(model))
    late = losses[-1] / losses[-2]
    assert abs(late - factor) < 1e-4, (
        f"epoch 99's loss / epoch 98's must be gradient descent's late factor (1 - 2 lr l_min)^2 = "
        f"{factor:.6f} (the seed's: 0.98883), got {late:.6f} ({losses[-2]:.6g} -> {losses[-1]:.6g})")
    ratio = (w100 - 2) / (b100 - 1)
    assert abs(ratio - direction) < 1e-3, (
        f"after 100 epochs (slope - 2) / (bias - 1) must be the slow direction's {direction:.5f} (the "
        f"seed's: (2.0956 - 2) / (0.3361 - 1) = -0.1440), got {ratio:.5f} at w = {w100:.5f}, b = {b100:.5f}")
    for _ in range(epochs - 100):
        epoch()
    weight, bias = B.linear_parameters(model)
    assert_close(B, weight, [[2.0]], what=f"slope after {epochs} epochs")
    assert_close(B, bias, [1.0], what=f"intercept after {epochs} epochs")


# ------------------------------------------------------------------------ 004's two-layer nets

def _data(B, device):
    rng = np.random.default_rng(0)  # its own: no test order or plugin changes it
    x = B.tensor(rng.standard_normal((N, D_IN)), device=device)
    y = B.tensor(rng.standard_normal((N, D_OUT)), device=device)
    return x, y


def _losses(B, model, opt, x, y, steps=STEPS) -> list[float]:
    """Sum-reduced MSE before each of `steps` optimizer steps, and after the last one."""
    def loss_fn():
        return B.mse_loss(model(x), y, reduction="sum")

    losses = [_value(B, gradients.train_step(B, opt, model, loss_fn)) for _ in range(steps)]
    return losses + [_value(B, loss_fn())]


def _manual_training(B, loss_fn, weights, lr) -> list[float]:
    """004 § 3's loop: loss, backward, w -= lr * w.grad and w.grad.zero_() for each weight, STEPS
    times; the loss before each step and after the last."""
    losses = []
    for t in range(STEPS + 1):
        loss = loss_fn()
        losses.append(_value(B, loss))
        if t == STEPS:
            break
        B.backward(loss)
        for w in weights:
            B.sub_(w, B.grad(w) * lr)
            B.zero_(B.grad(w))
    return losses


@claim("training.two-layer-autograd-manual")
def test_two_layer_autograd_manual_core(B, device):
    """w -= lr grad, grad.zero_() on the bilinear net."""
    x, y, w1, w2 = _core_data(B, device)
    w1, w2 = (B.tensor(B.to_numpy(w), device=device, requires_grad=True) for w in (w1, w2))
    losses = _manual_training(B, lambda: B.sum((x * w1 * w2 - y) ** 2), (w1, w2), lr=0.02)
    assert losses[-1] < losses[0] / 2, (
        f"{STEPS} manual updates must halve the loss: {losses[0]:.4g} -> {losses[-1]:.4g}")


@claim("training.two-layer-autograd-manual")
@pytest.mark.workload(WORKLOAD)
@uses("matmul", "relu")
def test_two_layer_autograd_manual(B, device, rng):
    """004 § 3: randn weights, loss (relu(x w1) w2 - y)^2 summed, w -= 1e-6 grad, grad.zero_()."""
    x, y = _data(B, device)
    w1 = B.tensor(rng.standard_normal((D_IN, H)), device=device, requires_grad=True)
    w2 = B.tensor(rng.standard_normal((H, D_OUT)), device=device, requires_grad=True)
    losses = _manual_training(B, lambda: B.sum((B.matmul(B.relu(B.matmul(x, w1)), w2) - y) ** 2), (w1, w2),
                              lr=1e-6)
    assert losses[-1] < losses[0] / 10, (
        f"{STEPS} manual updates must cut the loss below a tenth: {losses[0]:.4g} -> {losses[-1]:.4g}")


def _functional_training(B, loss, weights, lr) -> list[float]:
    """Gradient descent without mutable state: the gradients of loss(*weights) from B.vjp and new
    weights w - lr * g, STEPS times; the loss before each step and after the last."""
    losses = []
    for _ in range(STEPS):
        value, grads = B.vjp(loss, list(weights))
        losses.append(_value(B, value))
        weights = [w - g * lr for w, g in zip(weights, grads)]
    return losses + [_value(B, loss(*weights))]


@claim("training.two-layer-functional")
def test_two_layer_functional_core(B, device):
    """w = w - lr g from B.vjp on the bilinear net."""
    x, y, w1, w2 = _core_data(B, device)
    losses = _functional_training(B, lambda w1, w2: B.sum((x * w1 * w2 - y) ** 2), (w1, w2), lr=0.02)
    assert losses[-1] < losses[0] / 2, (
        f"{STEPS} functional updates must halve the loss: {losses[0]:.4g} -> {losses[-1]:.4g}")


@claim("training.two-layer-functional")
@pytest.mark.workload(WORKLOAD)
@uses("matmul", "relu")
def test_two_layer_functional(B, device, rng):
    """004 § 3 without mutable state: gradients from B.vjp, new weights w - lr * g each step."""
    x, y = _data(B, device)
    w1 = B.tensor(rng.standard_normal((D_IN, H)), device=device)
    w2 = B.tensor(rng.standard_normal((H, D_OUT)), device=device)
    losses = _functional_training(B, lambda w1, w2: B.sum((B.matmul(B.relu(B.matmul(x, w1)), w2) - y) ** 2),
                                  (w1, w2), lr=1e-6)
    assert losses[-1] < losses[0] / 10, (
        f"{STEPS} functional updates must cut the loss below a tenth: {losses[0]:.4g} -> {losses[-1]:.4g}")


@claim("training.two-layer-sgd")
def test_two_layer_sgd_core(B, device):
    model, x, y = _core_module(B, device)
    losses = _core_losses(B, model, B.sgd(model, lr=0.02), x, y)
    assert losses[-1] < losses[0] / 2, (
        f"the bilinear module with SGD: {STEPS} steps must halve the loss: {losses[0]:.4g} -> {losses[-1]:.4g}")


@claim("training.two-layer-sgd")
@pytest.mark.workload(WORKLOAD)
@pytest.mark.parametrize("net", ["sequential", "TwoLayerNet"])
@uses("linear", "relu_layer", "relu", "mse_loss")
def test_two_layer_sgd(B, device, net):
    """004 § 5 (nn.Sequential) and § 7 (TwoLayerNet): MSELoss(reduction='sum'), SGD(lr 1e-4)."""
    x, y = _data(B, device)
    model = (models.two_layer_sequential if net == "sequential" else models.two_layer_net)(B, device)
    losses = _losses(B, model, B.sgd(model, lr=1e-4), x, y)
    assert losses[-1] < losses[0] / 2, (
        f"{net} with SGD: {STEPS} steps must halve the loss: {losses[0]:.4g} -> {losses[-1]:.4g}")


@claim("training.two-layer-adam")
def test_two_layer_adam_core(B, device):
    model, x, y = _core_module(B, device)
    losses = _core_losses(B, model, B.adam(model, lr=0.05), x, y)
    assert losses[-1] < losses[0] / 2, (
        f"the bilinear module with Adam: {STEPS} steps must halve the loss: {losses[0]:.4g} -> {losses[-1]:.4g}")


@claim("training.two-layer-adam")
@pytest.mark.workload(WORKLOAD)
@uses("linear", "relu_layer", "mse_loss")
def test_two_layer_adam(B, device):
    """004 § 6: nn.Sequential, MSELoss(reduction='sum'), Adam(lr 1e-4)."""
    x, y = _data(B, device)
    model = models.two_layer_sequential(B, device)
    losses = _losses(B, model, B.adam(model, lr=1e-4), x, y)
    assert losses[-1] < 0.75 * losses[0], (
        f"Adam: {STEPS} steps must cut the loss by a quarter: {losses[0]:.4g} -> {losses[-1]:.4g}")


# ------------------------------------------------------------------------ FashionMNIST MLP

@claim("training.fashion-mlp-learns")
@pytest.mark.workload(512 * (28 * 28 * 512 + 512 * 10))  # the 512-image test batch
@pytest.mark.parametrize("loss", [pytest.param("cross_entropy", marks=uses("cross_entropy")), "squared error"])
@uses("flatten_layer", "linear", "relu_layer")
def test_fashion_mlp_learns(B, device, pipeline, fashion_root, loss):
    """000 In [80]-[83]: MyNet (Flatten, Linear(784, 512), ReLU, Linear(512, 10)), CrossEntropyLoss
    (or a squared error against one-hot labels), SGD(lr 0.1), DataLoader(batch_size=16); 32 steps
    (512 images), then the test split."""
    steps, batch_size = 32, 16
    train = pipeline.FashionMNIST(root=fashion_root, train=True, download=False, transform=pipeline.ToTensor())
    test = pipeline.FashionMNIST(root=fashion_root, train=False, download=False, transform=pipeline.ToTensor())

    def batch(ds, n):
        n = min(n, len(ds))
        X, y = next(iter(pipeline.DataLoader(pipeline.Subset(ds, range(n)), batch_size=n)))
        return B.tensor(X.numpy(), device=device), B.tensor(y.numpy(), device=device)

    def criterion(logits, labels):
        if loss == "cross_entropy":
            return B.cross_entropy(logits, labels)
        onehot = np.eye(10)[np.asarray(B.to_numpy(labels), dtype=np.int64)]
        return B.sum((logits - B.tensor(onehot, device=device)) ** 2) / float(len(onehot))

    model = models.mynet(B, device)
    opt = B.sgd(model, lr=0.1 if loss == "cross_entropy" else 0.02)
    x_fit, y_fit = batch(train, 128)
    before = _value(B, criterion(model(x_fit), y_fit))
    for k, (X, y) in enumerate(pipeline.DataLoader(train, batch_size=batch_size)):
        if k == steps:
            break
        X, y = B.tensor(X.numpy(), device=device), B.tensor(y.numpy(), device=device)
        gradients.train_step(B, opt, model, lambda: criterion(model(X), y))
    after = _value(B, criterion(model(x_fit), y_fit))
    x_test, y_test = batch(test, 512)
    predicted = B.to_numpy(model(x_test)).argmax(axis=1)
    accuracy = float(np.mean(predicted == B.to_numpy(y_test)))
    assert after < 0.8 * before, (
        f"{steps} SGD steps must lower the training loss by a fifth: {before:.4f} -> {after:.4f}")
    assert accuracy >= 0.3, (
        f"after {steps} steps the test accuracy must beat chance (0.1) clearly (>= 0.3), got {accuracy:.3f} "
        f"on {len(predicted)} test images")


# ---------------------------------------------------------------- 004 § 8: DynamicNet with momentum
MOMENTUM_STEPS = 10
DYNAMIC_NET_WORKLOAD = N * (D_IN * H + 3 * H * H + H * D_OUT)
DYNAMIC_NET_LAYERS = ["input_linear", "middle_linear", "output_linear"]


def _dynamic_net(B, device):
    """004 § 8's DynamicNet (models.dynamic_net); depth["uses"] sets how often the next forward
    reuses the middle layer. Returns the module, a function that reads its six weights by role
    (w_in, b_in, w_mid, ...; W as (n_in, n_out)), the same six parameter objects, and depth."""
    depth = {"uses": 0}
    model = models.dynamic_net(B, device, depth)
    layers = [getattr(model, name) for name in DYNAMIC_NET_LAYERS]

    def weights():
        return [v for layer in layers for v in linear_values(B, layer)]

    return model, weights, [p for layer in layers for p in B.linear_parameters(layer)], depth


def _elementwise_net(B, device, rng):
    """DynamicNet's structure in the core vocabulary (models.dynamic_net_of, form "core")."""
    depth = {"uses": 0}
    model = models.dynamic_net_of(B, device, "core", [rng.standard_normal(H) * 0.5 for _ in range(6)], depth)
    params = [getattr(model, n) for n in models.DYNAMIC_NET_WEIGHTS]

    def weights():
        return [np.asarray(B.to_numpy(p), dtype=np.float64) for p in params]

    return model, weights, params, depth


def _check_momentum_training(B, model, weights, params, depth, x, y, loss_fn, reference, lr, momentum, rng):
    x64, y64 = (B.to_numpy(t).astype(np.float64) for t in (x, y))
    opt = B.sgd([p for _, p in B.named_parameters(model)], lr=lr, momentum=momentum)
    kept = KeptGradients(B, [p for _, p in B.named_parameters(model)], opt)
    buffers, losses = None, []
    for step in range(MOMENTUM_STEPS):
        depth["uses"] = int(rng.integers(0, 4))  # random.randint(0, 3)
        # numpy's step from the weights the engine holds now (read by role): each step is checked on
        # its own, so float32 rounding does not pile up along a trajectory that has ReLU kinks
        before = weights()
        loss = loss_fn()
        losses.append(float(np.asarray(B.to_numpy(loss), dtype=np.float64).reshape(())))
        kept.zero()
        kept.backward(loss)
        # zero_grad() sets gradients to None in torch >= 2.0, and a forward that skips the middle
        # layer leaves its gradient None: SGD then skips that layer (its momentum does not carry);
        # an engine that zeroes gradients instead steps it with its momentum. Follow the engine.
        stepped = [kept.grad(p) is not None for p in params]
        kept.step()
        grads = reference(x64, y64, depth["uses"], *before)
        if buffers is None:
            buffers = [g if on else None for g, on in zip(grads, stepped)]
        else:
            buffers = [(g if b is None else momentum * b + g) if on else b
                       for b, g, on in zip(buffers, grads, stepped)]
        after = weights()
        for k, (old, new, b, on) in enumerate(zip(before, after, buffers, stepped)):
            what = f"weight {k} after step {step + 1} ({depth['uses']} middle uses) vs numpy's momentum step"
            assert_close(B, new, old - (lr * b if on else 0), relative_to="max", what=what)
    final = float(np.asarray(B.to_numpy(loss_fn()), dtype=np.float64).reshape(()))
    assert final < losses[0], f"training must lower the loss: {losses[0]:.4g} -> {final:.4g}"


@claim("training.dynamic-net-momentum")
@pytest.mark.workload(DYNAMIC_NET_WORKLOAD)
@pytest.mark.uses("linear", "linear_parameters", "relu", "mse_loss")
def test_dynamic_net_momentum(B, device, rng):
    model, weights, params, depth = _dynamic_net(B, device)
    x, y = B.tensor(rng.standard_normal((N, D_IN)), device=device), B.tensor(rng.standard_normal((N, D_OUT)), device=device)
    _check_momentum_training(B, model, weights, params, depth, x, y,
                             lambda: B.mse_loss(model(x), y, reduction="sum"), references.numpy_dynamic_grads,
                             1e-4, 0.9, rng)


@claim("training.dynamic-net-momentum")
def test_dynamic_net_momentum_core(B, device, rng):
    model, weights, params, depth = _elementwise_net(B, device, rng)
    x, y = B.tensor(rng.standard_normal(H), device=device), B.tensor(rng.standard_normal(H), device=device)
    _check_momentum_training(B, model, weights, params, depth, x, y, lambda: B.sum((model(x) - y) ** 2),
                             references.numpy_elementwise_dynamic_grads, 3e-3, 0.9, rng)
