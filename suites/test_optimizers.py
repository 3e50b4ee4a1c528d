"""Optimizers: step() changes the model's own parameters in place, by the SGD, momentum and Adam
rules (000 In [83] and Test 1; 001 In [61]-[62]; 004 § 5, § 6, § 8).

Expected values are computed in numpy (float64) from the parameter and gradient values the backend
reports, and compared with the backend's tolerance rather than bit for bit: how an engine rounds
lr and orders p - lr * g is its own business (torch's float32 SGD step differs in the last bit from
numpy's float32 p - lr * g for several percent of elements, with or without rounding lr * g first).
Each test takes lr large enough that lr * g is of the order of p, so a different rule (no
momentum, weight decay, no bias correction) is far outside that tolerance. Only the claim about
elements with zero gradient is bit-exact: x - lr * 0 is x under any rounding.

Where gradients live (gradients.py): held by the optimizer where the engine's optimizers hold them,
stored on the parameters where backward stores them, else returned (``B.vjp``, ``B.value_and_grad``)
and given to ``B.apply_gradients``, which returns the parameters after the step (the same objects
where the engine updates them in place, new arrays where its optimizers return them). The claims
are the same on every path; an engine without the operations of its path is not applicable,
naming them. The update rules are checked on losses in the core vocabulary (squared errors of
elementwise affine maps of leaves of both signs, over several steps); the seeds' own models
(MyNet and cross-entropy) run as a second form where the claim is about a model."""

import numpy as np
import pytest

from autograd_conformance import gradients, models, references
from autograd_conformance.assertions import assert_close, nonempty
from autograd_conformance.models import linear_forward
from autograd_conformance.protocol import Capability

claim = pytest.mark.claim
uses = pytest.mark.uses


def _np(B, t) -> np.ndarray:
    return np.array(B.to_numpy(t), dtype=np.float64)


def _leaves(B, device, n=6):
    """w, b as trainable leaves of both signs; the loss sum((x w + b - y)^2) over fixed data, as a
    function of them (the seeds' x @ w + b, elementwise)."""
    rng = np.random.default_rng(0)  # its own: no test order or plugin changes it
    w = B.tensor(rng.standard_normal(n), device=device, requires_grad=True)
    b = B.tensor(rng.standard_normal(n), device=device, requires_grad=True)
    x = B.tensor(rng.standard_normal(n) * 2, device=device)
    y = B.tensor(rng.standard_normal(n), device=device)
    return [w, b], lambda w, b: B.sum((x * w + b - y) ** 2)


def _batch(B, device, n=16):
    """A DataLoader-shaped batch (000 In [83]): images [n, 1, 28, 28] and integer labels."""
    rng = np.random.default_rng(0)  # its own: no test order or plugin changes it
    x = B.tensor(rng.random((n, 1, 28, 28)), device=device)
    return x, B.tensor(rng.integers(0, 10, n), device=device, dtype="int64")


def _elementwise_model(B, device, values):
    """A module owning two parameter vectors w and b: forward(x) = w x + b, elementwise."""
    w, b = (B.parameter(B.tensor(v, device=device)) for v in values)
    return B.module(lambda m, x: m.w * x + m.b, w=w, b=b)


MYNET_WORKLOAD = models.mynet_workload(16, hidden=32)  # 000 In [80], narrowed to stay fast
MYNET_USES = ("linear", "linear_parameters", "relu_layer", "reshape", "cross_entropy")


def _check_step_updates_model(B, model, opt, loss_fn, expected_forward, forward):
    named = nonempty("the model's parameters", B.named_parameters(model))
    before = {name: _np(B, p) for name, p in named}
    out_before = _np(B, forward())
    gradients.module_step(B, opt, model, loss_fn)
    after = B.named_parameters(model)
    assert [n for n, _ in after] == [n for n, _ in named], "step must not change the model's parameter list"
    for (name, p), (_, q) in zip(named, after):
        assert q is p, f"{name}: the model must still hold the parameter object given to the optimizer"
        assert not np.array_equal(_np(B, q), before[name]), f"{name}: step must change the model's weights"
    out_after = forward()
    assert not np.allclose(_np(B, out_after), out_before), "the next forward must differ after a step"
    assert_close(B, out_after, expected_forward(), what="the next forward vs a forward with the stepped weights",
                 relative_to="max")


@claim("optim.step-updates-model-weights")
@pytest.mark.workload(MYNET_WORKLOAD)
@uses(*MYNET_USES)
def test_step_updates_model_weights(B, device):
    """000 In [83]: MyNet, cross-entropy, SGD(model.parameters()); the seed prints linear2.weight."""
    model = models.mynet(B, device, hidden=32, flatten=False)
    watched = B.linear_parameters(model.linear2)[0]
    opt = B.sgd(model, lr=0.1)  # torch: SGD(model.parameters()); MLX steps the model itself
    x, labels = _batch(B, device)
    flat = _np(B, x).reshape(16, -1)
    _check_step_updates_model(
        B, model, opt, lambda: B.cross_entropy(model(x), labels),
        lambda: linear_forward(B, model.linear2, np.maximum(linear_forward(B, model.linear1, flat), 0)),
        lambda: model(x))
    assert B.linear_parameters(model.linear2)[0] is watched, "model.linear2 must keep its weight object"


@claim("optim.step-updates-model-weights")
def test_step_updates_model_weights_core(B, device, rng):
    model = _elementwise_model(B, device, (rng.standard_normal(6), rng.standard_normal(6)))
    x, y = B.tensor(rng.standard_normal(6) * 2, device=device), B.tensor(rng.standard_normal(6), device=device)
    opt = B.sgd(model, lr=0.1)
    x64 = _np(B, x)
    _check_step_updates_model(B, model, opt, lambda: B.sum((model(x) - y) ** 2),
                              lambda: _np(B, model.w) * x64 + _np(B, model.b), lambda: model(x))


def _check_step_in_place(B, model, opt, loss_fn):
    named = nonempty("the model's parameters", B.named_parameters(model))
    aliases = [B.data(p) for _, p in named]
    before = [_np(B, a) for a in aliases]
    gradients.module_step(B, opt, model, loss_fn)
    for (name, p), alias, old in zip(named, aliases, before):
        assert not np.array_equal(_np(B, p), old), f"{name}: step must change the weights"
        np.testing.assert_array_equal(
            B.to_numpy(alias), B.to_numpy(p),
            err_msg=f"{name}: an alias taken before step() must see the new values (in-place update)")


@claim("optim.step-in-place")
@pytest.mark.workload(MYNET_WORKLOAD)
@uses(*MYNET_USES)
def test_step_in_place(B, device):
    model = models.mynet(B, device, hidden=32, flatten=False)
    opt = B.sgd([p for _, p in B.named_parameters(model)], lr=0.1)
    x, labels = _batch(B, device)
    _check_step_in_place(B, model, opt, lambda: B.cross_entropy(model(x), labels))


@claim("optim.step-in-place")
def test_step_in_place_core(B, device, rng):
    model = _elementwise_model(B, device, (rng.standard_normal(6), rng.standard_normal(6)))
    x, y = B.tensor(rng.standard_normal(6) * 2, device=device), B.tensor(rng.standard_normal(6), device=device)
    opt = B.sgd([p for _, p in B.named_parameters(model)], lr=0.1)
    _check_step_in_place(B, model, opt, lambda: B.sum((model(x) - y) ** 2))


@claim("optim.sgd-update-rule")
def test_sgd_update_rule(B, device):
    """p <- p - lr * grad at every step of three, at 001's lr = 0.01 and at lr = 0.5."""
    for lr in (0.01, 0.5):
        params, loss = _leaves(B, device)
        opt = B.sgd(params, lr=lr)
        for step in range(3):
            old = [_np(B, p) for p in params]
            grads, params = gradients.step_with_gradients(B, opt, params, loss)
            for name, p, p0, g in zip(("w", "b"), params, old, grads):
                assert not np.allclose(_np(B, p), p0), f"{name}: the step must move the weights"
                assert_close(B, p, p0 - lr * g, what=f"{name} after step {step + 1} of SGD(lr={lr}) vs p - lr * grad")


@claim("optim.sgd-update-rule")
@pytest.mark.workload(10 * models.mynet_workload(16, hidden=64))
@pytest.mark.needs(Capability.MODULES.value)
@uses("linear", "linear_parameters", "reshape", "relu_layer", "cross_entropy")
def test_sgd_update_rule_seed_settings(B, device, rng):
    """000 In [83]: MyNet trained with CrossEntropyLoss and SGD(lr=0.1) on ten batches of 16 (its
    hidden layer narrowed to 64 units, its Flatten a reshape); every parameter after every step is
    p - 0.1 * grad, so no state (a momentum buffer, a changing rate) carries from one step to the
    next."""
    net = models.mynet(B, device, hidden=64, flatten=False)
    opt = B.sgd(net, lr=0.1)
    for step in range(10):
        x = B.tensor(rng.random((16, 28, 28)), device=device)
        y = B.tensor(rng.integers(0, 10, 16), device=device, dtype="int64")
        before = {name: B.to_numpy(p).copy() for name, p in B.named_parameters(net)}
        grads = gradients.module_step(B, opt, net, lambda: B.cross_entropy(net(x), y))
        for name, p in B.named_parameters(net):
            assert_close(B, p, before[name] - 0.1 * grads[name],
                         what=f"{name} after step {step + 1} of SGD(lr=0.1) vs p - 0.1 * grad", relative_to="max")


def _dead_unit_net(B, device, rng):
    w1 = rng.standard_normal((6, 4))
    w1[:, 0] = -np.abs(w1[:, 0]) - 0.1  # unit 0: negative weights, inputs in [0, 1) ...
    b1 = rng.standard_normal(4)
    b1[0] = -1.0  # ... and a negative bias: ReLU inactive for every sample
    values = {"w1": w1, "b1": b1, "w2": rng.standard_normal((4, 3)), "b2": rng.standard_normal(3)}
    params = {k: B.parameter(B.tensor(v, device=device)) for k, v in values.items()}
    return B.module(lambda m, x: B.matmul(B.relu(B.matmul(x, m.w1) + m.b1), m.w2) + m.b2, **params)


def _check_zero_grad_elements_unchanged(B, net, loss_fn, lr, least):
    opt = B.sgd(net, lr=lr)
    before = {name: B.to_numpy(p).copy() for name, p in B.named_parameters(net)}
    grads = gradients.module_step(B, opt, net, loss_fn, zero_grad=False)
    zero_elements = 0
    for name, p in B.named_parameters(net):
        zero = grads[name] == 0
        zero_elements += int(zero.sum())
        after = B.to_numpy(p)
        np.testing.assert_array_equal(after[zero], before[name][zero],
                                      err_msg=f"{name}: elements with exactly zero gradient must not change")
        # an update smaller than half the spacing of float values at p rounds away: only larger ones must show
        visible = ~zero & (np.abs(lr * grads[name]) > np.spacing(np.abs(before[name]).astype(after.dtype)))
        assert np.all(after[visible] != before[name][visible]), f"{name}: elements with a gradient must change"
    assert zero_elements >= least, f"expected at least {least} elements with exactly zero gradient, got {zero_elements}"


@claim("optim.zero-grad-element-unchanged")
@uses("matmul", "relu", "cross_entropy")
def test_zero_grad_element_unchanged(B, device, rng):
    """A hidden unit that is dead for every sample (as ORDER 5 of 000 In [83] shows for one
    weight): its incoming weights, its bias and the next layer's weights that read it get
    exactly zero gradient."""
    net = _dead_unit_net(B, device, rng)
    x = B.tensor(rng.random((10, 6)), device=device)
    labels = B.tensor(rng.integers(0, 3, 10), device=device, dtype="int64")
    _check_zero_grad_elements_unchanged(B, net, lambda: B.cross_entropy(net(x), labels), 0.5, 6 + 1 + 3)


@claim("optim.zero-grad-element-unchanged")
def test_zero_grad_element_unchanged_core(B, device, rng):
    """An elementwise model fed zeros in some places: those elements of w get exactly zero gradient."""
    net = _elementwise_model(B, device, (rng.standard_normal(8), rng.standard_normal(8)))
    x0 = rng.standard_normal(8) * 2
    x0[::3] = 0.0
    x, y = B.tensor(x0, device=device), B.tensor(rng.standard_normal(8), device=device)
    _check_zero_grad_elements_unchanged(B, net, lambda: B.sum((net(x) - y) ** 2), 0.5, 3)


def _manual_update(B, model, loss_fn, lr):
    """p <- p - lr * grad for every parameter of model, by hand, with the gradients where the engine
    keeps them: the seeds' p.data -= lr * p.grad (001 In [61]) where tensors change in place, else
    the new values written with load_parameters."""
    grads = gradients.module_grads(B, model, loss_fn)
    named = B.named_parameters(model)
    if Capability.IN_PLACE in B.capabilities:
        for name, p in named:
            B.sub_(B.data(p), grads[name] * lr)  # 001 In [61]: f.data.sub_(f.grad.data * learning_rate)
        return
    B.load_parameters(model, [p - grads[name] * lr for name, p in named])


def _check_manual_update_equals_sgd(B, build, loss, lr=0.1):
    by_sgd, by_hand = build(), build()  # twins from the same values (no reseeding)
    opt = B.sgd(by_sgd, lr=lr)
    start = [_np(B, p) for _, p in nonempty("parameters", B.named_parameters(by_sgd))]
    for step in range(3):
        gradients.module_step(B, opt, by_sgd, lambda: loss(by_sgd))
        _manual_update(B, by_hand, lambda: loss(by_hand), lr)
        for (name, p), (_, q) in zip(B.named_parameters(by_sgd), B.named_parameters(by_hand)):
            assert_close(B, q, B.to_numpy(p), what=f"{name} after {step + 1} steps: manual update vs SGD")
    moved = [not np.allclose(_np(B, p), p0) for (_, p), p0 in zip(B.named_parameters(by_sgd), start)]
    assert all(moved), "every parameter must have moved (otherwise the comparison proves nothing)"


@claim("optim.manual-update-equals-sgd")
@pytest.mark.optional("in_place")
@uses("matmul", "relu", "mse_loss")
def test_manual_update_equals_sgd(B, device, rng):
    """001 In [61]-[62] on a two-layer net with an MSE loss."""
    values = {"w1": rng.standard_normal((10, 8)) * 0.3, "b1": rng.standard_normal(8) * 0.3,
              "w2": rng.standard_normal((8, 3)) * 0.3, "b2": rng.standard_normal(3) * 0.3}
    x = B.tensor(rng.standard_normal((16, 10)), device=device)
    y = B.tensor(rng.standard_normal((16, 3)), device=device)

    def build():
        params = {k: B.parameter(B.tensor(v, device=device)) for k, v in values.items()}
        return B.module(lambda m, x: B.matmul(B.relu(B.matmul(x, m.w1) + m.b1), m.w2) + m.b2, **params)

    _check_manual_update_equals_sgd(B, build, lambda model: B.mse_loss(model(x), y))


@claim("optim.manual-update-equals-sgd")
@pytest.mark.optional("in_place")
def test_manual_update_equals_sgd_core(B, device, rng):
    values = (rng.standard_normal(6), rng.standard_normal(6))
    x, y = B.tensor(rng.standard_normal(6) * 2, device=device), B.tensor(rng.standard_normal(6), device=device)
    _check_manual_update_equals_sgd(B, lambda: _elementwise_model(B, device, values),
                                    lambda model: B.sum((model(x) - y) ** 2) / 6.0)


@claim("optim.manual-update-equals-sgd")
@pytest.mark.needs(Capability.IN_PLACE.value, Capability.NO_GRAD.value)
def test_manual_operator_update_equals_sgd(B, device, rng):
    """004 § 5 as written: with torch.no_grad(): for param in model.parameters(): param -=
    learning_rate * param.grad. The -= must change the module's own parameter: an engine whose -=
    makes a new tensor rebinds the loop variable, and the model never sees the update."""
    values = (rng.standard_normal(6), rng.standard_normal(6))
    x, y = B.tensor(rng.standard_normal(6) * 2, device=device), B.tensor(rng.standard_normal(6), device=device)
    by_sgd, by_hand = (_elementwise_model(B, device, values) for _ in range(2))
    opt, lr = B.sgd(by_sgd, lr=0.1), 0.1

    def loss(model):
        return B.sum((model(x) - y) ** 2) / 6.0

    for step in range(3):
        gradients.module_step(B, opt, by_sgd, lambda: loss(by_sgd))
        grads = gradients.module_grads(B, by_hand, lambda: loss(by_hand))
        with B.no_grad():
            for name, param in B.named_parameters(by_hand):
                param -= grads[name] * lr
        for (name, p), (_, q) in zip(B.named_parameters(by_sgd), B.named_parameters(by_hand)):
            assert_close(B, q, B.to_numpy(p), what=f"the model's {name} after {step + 1} updates by "
                         f"param -= lr * param.grad under no_grad, vs SGD's")


@claim("optim.sgd-momentum-rule")
def test_sgd_momentum_rule(B, device):
    """b <- m b + grad (b = grad at the first step), p <- p - lr b, over four steps; at 004 § 8's
    momentum 0.9 and at 0.5."""
    for lr, m in ((0.1, 0.9), (0.05, 0.5)):
        params, loss = _leaves(B, device)
        opt, reference = B.sgd(params, lr=lr, momentum=m), references.NumpySGD(lr, m)
        expected = [_np(B, p) for p in params]
        for step in range(4):
            grads, params = gradients.step_with_gradients(B, opt, params, loss)
            expected = reference.step(expected, grads)
            for name, p, want in zip(("w", "b"), params, expected):
                assert_close(B, p, want, what=f"{name} after {step + 1} SGD steps (lr {lr}, momentum {m})")


@claim("optim.adam-update-rule")
def test_adam_update_rule(B, device):
    lr = 0.1
    params, loss = _leaves(B, device)
    opt, reference = B.adam(params, lr=lr), references.NumpyAdam(lr)
    expected = [_np(B, p) for p in params]
    for t in range(1, 4):
        grads, params = gradients.step_with_gradients(B, opt, params, loss)
        expected = reference.step(expected, grads)
        for name, p, want in zip(("w", "b"), params, expected):
            assert_close(B, p, want, what=f"{name} after {t} Adam steps (lr={lr}, betas 0.9/0.999, eps 1e-8)")


@claim("optim.adam-update-rule")
def test_adam_first_step_moves_lr(B, device, rng):
    """At t = 1 the bias-corrected step is -lr * g / (|g| + eps): against the gradient and within
    1% of lr in size for every weight whose gradient exceeds 100 eps ("about lr"), whatever the
    gradient's scale."""
    lr = 1e-4  # 004 § 6
    signs = lambda: rng.choice([-1.0, 1.0], 200)  # noqa: E731
    w = B.tensor(rng.uniform(0.05, 0.2, 200) * signs(), device=device, requires_grad=True)
    x = B.tensor(np.logspace(-1.5, 0.5, 200) * signs(), device=device)  # gradients 2 x^2 w over 4 decades
    opt = B.adam([w], lr=lr)
    before = _np(B, w)
    (g,), (w,) = gradients.step_with_gradients(B, opt, [w], lambda w: B.sum((x * w) ** 2), zero_grad=False)
    ratio = ((before - _np(B, w)) * np.sign(g))[np.abs(g) > 1e-6] / lr  # signed: downhill is +1
    assert ratio.size >= 0.9 * g.size, "most weights must have a gradient above 100 eps"
    assert np.all(np.abs(ratio - 1) < 0.01), \
        f"the first Adam step must move each weight downhill by about lr = {lr}: step / lr ranges " \
        f"{ratio.min():.4g} .. {ratio.max():.4g}"
