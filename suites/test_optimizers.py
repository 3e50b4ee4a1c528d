"""Optimizers: step() changes the model's own parameters in place, by the SGD, momentum and Adam
rules (000 In [83] and Test 1; 001 In [61]-[62]; 004 § 5, § 6, § 8).

Expected values are computed in numpy (float64) from the parameter and gradient values the backend
reports, and compared with the backend's tolerance rather than bit for bit: how an engine rounds
lr and orders p - lr * g is its own business (torch's float32 SGD step differs in the last bit from
numpy's float32 p - lr * g for several percent of elements, with or without rounding lr * g first).
Each test takes lr large enough that lr * g is of the order of p, so a different rule (no
momentum, weight decay, no bias correction) is far outside that tolerance. Only the claim about
elements with zero gradient is bit-exact: x - lr * 0 is x under any rounding.

Where gradients live: on an engine that stores them (Capability.BACKWARD) a step is the seeds'
zero_grad / backward / step(); on one whose gradients are returned (a tape, a function
transformation) it is the engine's own way: the gradients from ``B.vjp`` (leaves) or
``B.value_and_grad`` (a module's parameters), then ``B.apply_gradients``, which returns the
parameters after the step (the same objects where the engine updates them in place, new arrays where
its optimizers return them). The claims are the same on both paths; an engine without the
operations of its path is not applicable, naming them."""

import numpy as np
import pytest

from autograd_conformance import models
from autograd_conformance.check import assert_close, linear_forward, nonempty
from autograd_conformance.protocol import Capability

claim = pytest.mark.claim


def _np(B, t) -> np.ndarray:
    return np.array(B.to_numpy(t), dtype=np.float64)


def _stores_grads(B) -> bool:
    return Capability.BACKWARD in B.capabilities


def _leaves(B, device, n_in=5, n_out=3):
    """w, b as trainable leaves; the loss as a function of them over fixed data (the seeds' x @ w + b)."""
    rng = np.random.default_rng(0)  # its own: no test order or plugin changes it
    w = B.tensor(rng.standard_normal((n_in, n_out)), device=device, requires_grad=True)
    b = B.tensor(rng.standard_normal(n_out), device=device, requires_grad=True)
    x = B.tensor(rng.standard_normal((8, n_in)), device=device)
    y = B.tensor(rng.standard_normal((8, n_out)), device=device)
    return [w, b], lambda w, b: B.mse_loss(B.matmul(x, w) + b, y)


def _new_grads(B, opt, params, loss_fn):
    B.zero_grad(opt)
    B.backward(loss_fn())
    grads = [B.grad(p) for p in params]
    assert all(g is not None for g in grads), "backward must give every parameter a gradient"
    return [_np(B, g) for g in grads]


def _leaf_step(B, opt, params, loss, zero_grad=True):
    """One optimizer step on the leaves params from the gradient of loss(*params) at their current
    values (after opt's zero_grad where gradients are stored and zero_grad is True). Returns (the
    gradients as numpy, the parameters after the step)."""
    if _stores_grads(B):
        if zero_grad:
            grads = _new_grads(B, opt, params, lambda: loss(*params))
        else:
            B.backward(loss(*params))
            grads = [_np(B, B.grad(p)) for p in params]
        B.step(opt)
        return grads, params
    _, grads = B.vjp(loss, params)
    numpy_grads = [_np(B, g) for g in grads]
    return numpy_grads, list(B.apply_gradients(opt, list(grads)))


def _module_step(B, opt, model, loss_fn, zero_grad=True):
    """One optimizer step on model's parameters from the gradient of loss_fn() (which calls model),
    after opt's zero_grad where gradients are stored and zero_grad is True. Returns the gradients
    as numpy, by parameter name."""
    names = [name for name, _ in B.named_parameters(model)]
    if _stores_grads(B):
        if zero_grad:
            B.zero_grad(opt)
        B.backward(loss_fn())
        grads = {name: B.to_numpy(B.grad(p)) for name, p in B.named_parameters(model)}
        B.step(opt)
        return grads
    _, grads = B.value_and_grad(model, loss_fn)
    numpy_grads = {name: B.to_numpy(g) for name, g in zip(names, grads)}
    B.apply_gradients(opt, list(grads))
    return numpy_grads


def _batch(B, device, n=16):
    """A DataLoader-shaped batch (000 In [83]): images [n, 1, 28, 28] and integer labels."""
    rng = np.random.default_rng(0)  # its own: no test order or plugin changes it
    x = B.tensor(rng.random((n, 1, 28, 28)), device=device)
    return x, B.tensor(rng.integers(0, 10, n), device=device, dtype="int64")


MYNET_WORKLOAD = models.mynet_workload(16, hidden=32)  # 000 In [80], narrowed to stay fast


@claim("optim.step-updates-model-weights")
@pytest.mark.workload(MYNET_WORKLOAD)
def test_step_updates_model_weights(B, device):
    model = models.mynet(B, device, hidden=32, flatten=False)
    named = nonempty("MyNet's parameters", B.named_parameters(model))
    watched = B.linear_parameters(model.linear2)[0]  # the seed prints model.linear2.weight[0, 0]
    before = {name: _np(B, p) for name, p in named}
    opt = B.sgd(model, lr=0.1)  # torch: SGD(model.parameters()); MLX steps the model itself
    x, labels = _batch(B, device)
    out_before = _np(B, model(x))
    _module_step(B, opt, model, lambda: B.cross_entropy(model(x), labels))

    after = B.named_parameters(model)
    assert [n for n, _ in after] == [n for n, _ in named], "step must not change the model's parameter list"
    for (name, p), (_, q) in zip(named, after):
        assert q is p, f"{name}: the model must still hold the parameter object given to the optimizer"
        assert not np.array_equal(_np(B, q), before[name]), f"{name}: step must change the model's weights"
    assert B.linear_parameters(model.linear2)[0] is watched, "model.linear2 must keep its weight object"

    flat = _np(B, x).reshape(16, -1)
    expected = linear_forward(B, model.linear2, np.maximum(linear_forward(B, model.linear1, flat), 0))
    out_after = model(x)
    assert not np.allclose(_np(B, out_after), out_before), "the next forward must differ after a step"
    assert_close(B, out_after, expected, what="the next forward vs a forward with the stepped weights")


@claim("optim.step-in-place")
@pytest.mark.workload(MYNET_WORKLOAD)
def test_step_in_place(B, device):
    model = models.mynet(B, device, hidden=32, flatten=False)
    named = nonempty("MyNet's parameters", B.named_parameters(model))
    aliases = [B.data(p) for _, p in named]
    before = [_np(B, a) for a in aliases]
    opt = B.sgd([p for _, p in named], lr=0.1)
    x, labels = _batch(B, device)
    B.backward(B.cross_entropy(model(x), labels))
    B.step(opt)
    for (name, p), alias, old in zip(named, aliases, before):
        assert not np.array_equal(_np(B, p), old), f"{name}: step must change the weights"
        np.testing.assert_array_equal(
            B.to_numpy(alias), B.to_numpy(p),
            err_msg=f"{name}: an alias taken before step() must see the new values (in-place update)")


@claim("optim.sgd-update-rule")
def test_sgd_update_rule(B, device):
    lr = 0.5
    params, loss = _leaves(B, device)
    opt = B.sgd(params, lr=lr)
    old = [_np(B, p) for p in params]
    grads, params = _leaf_step(B, opt, params, loss)
    for name, p, p0, g in zip(("w", "b"), params, old, grads):
        assert not np.allclose(_np(B, p), p0), f"{name}: the step must move the weights"
        assert_close(B, p, p0 - lr * g, what=f"{name} after SGD(lr={lr}).step() vs p - lr * grad")


@claim("optim.zero-grad-element-unchanged")
def test_zero_grad_element_unchanged(B, device, rng):
    """A hidden unit that is dead for every sample (as ORDER 5 of 000 In [83] shows for one
    weight): its incoming weights, its bias and the next layer's weights that read it get
    exactly zero gradient."""
    w1 = rng.standard_normal((6, 4))
    w1[:, 0] = -np.abs(w1[:, 0]) - 0.1  # unit 0: negative weights, inputs in [0, 1) ...
    b1 = rng.standard_normal(4)
    b1[0] = -1.0  # ... and a negative bias: ReLU inactive for every sample
    values = {"w1": w1, "b1": b1, "w2": rng.standard_normal((4, 3)), "b2": rng.standard_normal(3)}
    params = {k: B.parameter(B.tensor(v, device=device)) for k, v in values.items()}
    net = B.module(lambda m, x: B.matmul(B.relu(B.matmul(x, m.w1) + m.b1), m.w2) + m.b2, **params)
    x = B.tensor(rng.random((10, 6)), device=device)
    labels = B.tensor(rng.integers(0, 3, 10), device=device, dtype="int64")
    lr = 0.5
    opt = B.sgd(net, lr=lr)
    before = {name: B.to_numpy(p).copy() for name, p in B.named_parameters(net)}
    grads = _module_step(B, opt, net, lambda: B.cross_entropy(net(x), labels), zero_grad=False)
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
    assert zero_elements >= 6 + 1 + 3, "the dead unit must give its weights exactly zero gradient"


def _twin_models(B, device):
    twins = []
    for _ in range(2):
        B.seed(0)  # the engine's own initialisation, twice from the same seed
        twins.append(B.sequential(B.linear(10, 8, device=device), B.relu_layer(), B.linear(8, 3, device=device)))
    for (name, p), (_, q) in zip(*(B.named_parameters(m) for m in twins)):
        np.testing.assert_array_equal(B.to_numpy(p), B.to_numpy(q), err_msg=f"{name}: twins start equal")
    return twins


def _manual_update(B, model, loss_fn, lr):
    """p <- p - lr * grad for every parameter of model, by hand: on an engine with stored gradients
    and in-place updates the seeds' p.data -= lr * p.grad (001 In [61]); otherwise the gradients
    from value_and_grad and the new values written with load_parameters."""
    if _stores_grads(B) and Capability.IN_PLACE in B.capabilities:
        B.module_zero_grad(model)
        B.backward(loss_fn())
        for _, p in B.named_parameters(model):
            B.sub_(B.data(p), B.grad(p) * lr)  # 001 In [61]: f.data.sub_(f.grad.data * learning_rate)
        return
    _, grads = B.value_and_grad(model, loss_fn)
    B.load_parameters(model, [p - g * lr for (_, p), g in zip(B.named_parameters(model), grads)])


@claim("optim.manual-update-equals-sgd")
def test_manual_update_equals_sgd(B, device, rng):
    lr = 0.1
    by_sgd, by_hand = _twin_models(B, device)
    x = B.tensor(rng.standard_normal((16, 10)), device=device)
    y = B.tensor(rng.standard_normal((16, 3)), device=device)
    opt = B.sgd(by_sgd, lr=lr)
    start = [_np(B, p) for _, p in nonempty("parameters", B.named_parameters(by_sgd))]
    for step in range(3):
        _module_step(B, opt, by_sgd, lambda: B.mse_loss(by_sgd(x), y))
        _manual_update(B, by_hand, lambda: B.mse_loss(by_hand(x), y), lr)
        for (name, p), (_, q) in zip(B.named_parameters(by_sgd), B.named_parameters(by_hand)):
            assert_close(B, q, B.to_numpy(p), what=f"{name} after {step + 1} steps: manual update vs SGD")
    moved = [not np.allclose(_np(B, p), p0) for (_, p), p0 in zip(B.named_parameters(by_sgd), start)]
    assert all(moved), "every parameter must have moved (otherwise the comparison proves nothing)"


@claim("optim.sgd-momentum-rule")
def test_sgd_momentum_rule(B, device):
    lr, m = 0.1, 0.9
    params, loss = _leaves(B, device)
    opt = B.sgd(params, lr=lr, momentum=m)
    expected = [_np(B, p) for p in params]
    buffers = None
    for step in range(3):
        grads, params = _leaf_step(B, opt, params, loss)
        buffers = grads if buffers is None else [m * buf + g for buf, g in zip(buffers, grads)]
        expected = [p - lr * buf for p, buf in zip(expected, buffers)]
        for name, p, want in zip(("w", "b"), params, expected):
            assert_close(B, p, want, what=f"{name} after {step + 1} SGD steps with momentum {m}")


def _adam_reference(p, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


@claim("optim.adam-update-rule")
def test_adam_update_rule(B, device):
    lr = 0.1
    params, loss = _leaves(B, device)
    opt = B.adam(params, lr=lr)
    expected = [_np(B, p) for p in params]
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in expected]
    for t in range(1, 4):
        grads, params = _leaf_step(B, opt, params, loss)
        updated = [_adam_reference(p, g, m, v, t, lr) for p, g, (m, v) in zip(expected, grads, moments)]
        expected, moments = [u[0] for u in updated], [(u[1], u[2]) for u in updated]
        for name, p, want in zip(("w", "b"), params, expected):
            assert_close(B, p, want, what=f"{name} after {t} Adam steps (lr={lr}, betas 0.9/0.999, eps 1e-8)")


@claim("optim.adam-update-rule")
def test_adam_first_step_moves_lr(B, device, rng):
    """At t = 1 the bias-corrected step is -lr * g / (|g| + eps): against the gradient and within
    1% of lr in size for every weight whose gradient exceeds 100 eps ("about lr"), whatever the
    gradient's scale."""
    lr = 1e-4  # 004 § 6
    w = B.tensor(rng.standard_normal((50, 4)) * 0.1, device=device, requires_grad=True)
    x = B.tensor(rng.standard_normal((32, 50)) * np.logspace(-3, 1, 50), device=device)  # gradients over 4 decades
    opt = B.adam([w], lr=lr)
    before = _np(B, w)
    (g,), (w,) = _leaf_step(B, opt, [w], lambda w: B.sum(B.matmul(x, w) ** 2), zero_grad=False)
    ratio = ((before - _np(B, w)) * np.sign(g))[np.abs(g) > 1e-6] / lr  # signed: downhill is +1
    assert ratio.size >= 0.9 * g.size, "most weights must have a gradient above 100 eps"
    assert np.all(np.abs(ratio - 1) < 0.01), \
        f"the first Adam step must move each weight downhill by about lr = {lr}: step / lr ranges " \
        f"{ratio.min():.4g} .. {ratio.max():.4g}"
