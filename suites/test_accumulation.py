"""Gradient accumulation and zeroing: .grad adds up across backward passes until zeroed."""

import numpy as np
import pytest

from autograd_conformance import models
from autograd_conformance.check import as_in_out, assert_close, linear_values, nonempty
from autograd_conformance.protocol import Capability

claim = pytest.mark.claim
inputs = pytest.mark.inputs


def _out(B, x):
    y = x + 2
    return B.mean(y * y * 3)


@claim("accumulation.second-backward-adds")
@inputs("seed")
def test_second_backward_adds(B, device):
    x = B.tensor(np.ones((2, 2)), device=device, requires_grad=True)
    out = _out(B, x)
    B.backward(out, retain_graph=True)
    assert_close(B, B.grad(x), np.full((2, 2), 4.5), what="x.grad after one backward")
    B.backward(out)
    assert_close(B, B.grad(x), np.full((2, 2), 9.0), what="x.grad after a second backward")


@claim("accumulation.second-backward-adds")
@inputs("random")
def test_second_backward_adds_random(B, device, rng):
    x = B.tensor(rng.standard_normal((3, 4)), device=device, requires_grad=True)
    once = 6 * (B.to_numpy(x).astype(np.float64) + 2) / 12
    out = _out(B, x)
    B.backward(out, retain_graph=True)
    assert_close(B, B.grad(x), once, what="x.grad after one backward at random x")
    B.backward(out)
    assert_close(B, B.grad(x), 2 * once, what="x.grad after a second backward at random x")


def _multi_task(B, device, x0, w0, b0, y0):
    """002's BCE graph z = x @ w + b with two losses on it: BCE (the seed's) and MSE against y."""
    x, y = B.tensor(x0, device=device), B.tensor(y0, device=device)
    w = B.tensor(w0, device=device, requires_grad=True)
    b = B.tensor(b0, device=device, requires_grad=True)
    z = B.matmul(x, w) + b
    return (w, b), B.bce_with_logits(z, B.tensor(np.zeros(3), device=device)), B.mse_loss(z, y)


@claim("accumulation.multi-task-losses-sum")
@pytest.mark.parametrize("case", [pytest.param("seed", marks=inputs("seed")),
                                  pytest.param("random", marks=inputs("random"))])
def test_multi_task_losses_sum(B, device, rng, case):
    """002 § 튜토리얼 외의 내용: loss1.backward(retain_graph=True); loss2.backward()."""
    x0 = np.ones(5) if case == "seed" else rng.standard_normal(5)
    w0, b0, y0 = rng.standard_normal((5, 3)), rng.standard_normal(3), rng.standard_normal(3)
    (w, b), loss1, loss2 = _multi_task(B, device, x0, w0, b0, y0)
    B.backward(loss1, retain_graph=True)
    B.backward(loss2)
    x = B.tensor(x0, device=device)
    y, zeros = B.tensor(y0, device=device), B.tensor(np.zeros(3), device=device)
    _, g1 = B.vjp(lambda w, b: B.bce_with_logits(B.matmul(x, w) + b, zeros), [w, b])
    _, g2 = B.vjp(lambda w, b: B.mse_loss(B.matmul(x, w) + b, y), [w, b])
    for name, p, a, c in zip(("w", "b"), (w, b), g1, g2):
        a, c = B.to_numpy(a).astype(np.float64), B.to_numpy(c).astype(np.float64)
        assert not np.allclose(a, c), "the two losses have different gradients (else the test proves nothing)"
        assert_close(B, B.grad(p), a + c, what=f"{name}.grad after loss1 and loss2 vs the sum of their gradients")


def _bce_grads(B, device, w0, b0, passes):
    x, y = B.tensor(np.ones(5), device=device), B.tensor(np.zeros(3), device=device)
    w = B.tensor(w0, device=device, requires_grad=True)
    b = B.tensor(b0, device=device, requires_grad=True)
    loss = B.bce_with_logits(B.matmul(x, w) + b, y)
    for i in range(passes):
        B.backward(loss, retain_graph=i < passes - 1)
    return B.to_numpy(B.grad(w)), B.to_numpy(B.grad(b))


@claim("accumulation.retain-twice-equals-double")
def test_retain_twice_equals_double(B, device, rng):
    w0, b0 = rng.standard_normal((5, 3)), rng.standard_normal(3)
    once_w, once_b = _bce_grads(B, device, w0, b0, passes=1)
    twice_w, twice_b = _bce_grads(B, device, w0, b0, passes=2)
    assert_close(B, twice_w, 2 * once_w, what="w.grad after two passes vs 2 x one pass")
    assert_close(B, twice_b, 2 * once_b, what="b.grad after two passes vs 2 x one pass")


def _net(B, device):
    """A Sequential MLP 784-32-32-10 and its Linear layers."""
    linears = [B.linear(784, 32, device=device), B.linear(32, 32, device=device), B.linear(32, 10, device=device)]
    return B.sequential(linears[0], B.relu_layer(), linears[1], B.relu_layer(), linears[2]), linears


def _sample(B, device):
    """One image and label, as the seeds' loop uses training_data[1012]."""
    rng = np.random.default_rng(0)  # its own: no test order or plugin changes it
    x = B.tensor(rng.random((1, 784)), device=device)
    return x, B.tensor([3], device=device, dtype="int64")


def _fresh_grads(B, device, linears, x, label):
    """The gradient at the layers' current weights alone, by a functional VJP of the same MLP:
    [(dL/dW as (n_in, n_out), dL/db) for each Linear]."""
    values = [B.tensor(v, device=device) for layer in linears for v in linear_values(B, layer)]

    def loss(*weights_and_biases):
        h = x
        for i in range(0, len(weights_and_biases), 2):
            h = B.matmul(h, weights_and_biases[i]) + weights_and_biases[i + 1]
            h = B.relu(h) if i + 2 < len(weights_and_biases) else h
        return B.cross_entropy(h, label)

    _, grads = B.vjp(loss, values)
    grads = [B.to_numpy(g) for g in grads]
    return list(zip(grads[0::2], grads[1::2]))


def _stored_grads(B, linears):
    """[(W.grad as (n_in, n_out), b.grad) for each Linear], read by role."""
    result = []
    for layer in linears:
        weight, bias = B.linear_parameters(layer)
        g_w, g_b = B.grad(weight), B.grad(bias)
        assert g_w is not None and g_b is not None, "backward must give every Linear parameter a gradient"
        result.append((as_in_out(B, B.to_numpy(g_w)), B.to_numpy(g_b)))
    return result


@claim("accumulation.no-zero-grad-accumulates")
def test_no_zero_grad_accumulates_leaves(B, device, rng):
    """Backward through k separate graphs (new forwards from the same leaves at new inputs),
    never zeroing: w.grad is the sum of the k gradients, each taken on its own input."""
    w0, b0 = rng.standard_normal((5, 3)), rng.standard_normal(3)
    w = B.tensor(w0, device=device, requires_grad=True)
    b = B.tensor(b0, device=device, requires_grad=True)
    total_w, total_b = 0, 0
    for i in range(3):
        x0, y0 = rng.standard_normal((8, 5)), rng.standard_normal((8, 3))
        x, y = B.tensor(x0, device=device), B.tensor(y0, device=device)
        _, (g_w, g_b) = B.vjp(lambda w, b: B.mse_loss(B.matmul(x, w) + b, y), [w, b])
        total_w, total_b = total_w + B.to_numpy(g_w), total_b + B.to_numpy(g_b)
        B.backward(B.mse_loss(B.matmul(x, w) + b, y))
        assert_close(B, B.grad(w), total_w, what=f"w.grad after {i + 1} backward passes vs the sum of their gradients")
        assert_close(B, B.grad(b), total_b, what=f"b.grad after {i + 1} backward passes vs the sum of their gradients")


@claim("accumulation.no-zero-grad-accumulates")
@pytest.mark.requires(Capability.MODULES.value, Capability.OPTIMIZERS.value)
def test_no_zero_grad_accumulates(B, device):
    model, linears = _net(B, device)
    x, label = _sample(B, device)
    opt = B.sgd([p for _, p in B.named_parameters(model)], lr=1e-2)
    total = None
    for i in range(4):
        fresh = _fresh_grads(B, device, linears, x, label)
        total = fresh if total is None else [(tw + fw, tb + fb) for (tw, tb), (fw, fb) in zip(total, fresh)]
        B.backward(B.cross_entropy(model(x), label))  # no zero_grad
        for k, ((g_w, g_b), (want_w, want_b)) in enumerate(zip(_stored_grads(B, linears), total)):
            what = f"after {i + 1} iterations vs the sum of the fresh gradients"
            assert_close(B, g_w, want_w, what=f"Linear {k} weight.grad {what}")
            assert_close(B, g_b, want_b, what=f"Linear {k} bias.grad {what}")
        B.step(opt)


@claim("accumulation.zero-grad-each-step-fresh")
def test_zero_grad_each_step_fresh(B, device):
    model, linears = _net(B, device)
    x, label = _sample(B, device)
    opt = B.sgd([p for _, p in B.named_parameters(model)], lr=1e-2)
    for i in range(4):
        fresh = _fresh_grads(B, device, linears, x, label)
        B.zero_grad(opt)
        B.backward(B.cross_entropy(model(x), label))
        for k, ((g_w, g_b), (want_w, want_b)) in enumerate(zip(_stored_grads(B, linears), fresh)):
            assert_close(B, g_w, want_w, what=f"Linear {k} weight.grad at iteration {i + 1} vs the fresh gradient")
            assert_close(B, g_b, want_b, what=f"Linear {k} bias.grad at iteration {i + 1} vs the fresh gradient")
        B.step(opt)


def _grads_over_iterations(B, device, step: bool):
    model, _ = _net(B, device)
    x, label = _sample(B, device)
    opt = B.sgd(nonempty("parameters", (p for _, p in B.named_parameters(model))), lr=0.1)
    seen = []
    for _ in range(3):
        B.zero_grad(opt)
        B.backward(B.cross_entropy(model(x), label))
        seen.append([B.to_numpy(B.grad(p)).copy() for _, p in B.named_parameters(model)])
        if step:
            B.step(opt)
    return seen


@claim("accumulation.no-step-same-grad")
def test_no_step_same_grad(B, device):
    first, *rest = _grads_over_iterations(B, device, step=False)
    for i, grads in enumerate(rest, 2):
        for g0, g in zip(first, grads):
            np.testing.assert_array_equal(g, g0, err_msg=f"iteration {i} without step() must repeat the gradient")
    first, *rest = _grads_over_iterations(B, device, step=True)
    assert any(not np.array_equal(g0, g) for g0, g in zip(first, rest[0])), \
        "with step() between iterations the gradient must change"


@claim("accumulation.zero-grad-sets-none")
@pytest.mark.parametrize("kind", models.SEED_LAYER_KINDS)
@pytest.mark.parametrize("via", ["optimizer", "module"])
def test_zero_grad_sets_none(B, device, rng, via, kind):
    """zero_grad() as the seeds call it, without arguments (the adapter passes set_to_none=None: the
    engine's own default), then zero_grad(set_to_none=False), on each layer kind the seeds use."""
    model, x, _ = models.layer_of_kind(B, device, kind, rng)
    params = nonempty(f"{kind} parameters", (p for _, p in B.named_parameters(model)))
    opt = B.sgd(params, lr=0.1)

    def zero(set_to_none):
        if via == "optimizer":
            B.zero_grad(opt, set_to_none=set_to_none)
        else:
            B.module_zero_grad(model, set_to_none=set_to_none)

    def backward():
        B.backward(B.sum(model(x) ** 2))
        assert all(B.grad(p) is not None for p in params), "backward must give every parameter a gradient"

    backward()
    zero(set_to_none=False)
    for p in params:
        g = B.grad(p)
        assert g is not None, "zero_grad(set_to_none=False) must keep a gradient tensor"
        np.testing.assert_array_equal(B.to_numpy(g), np.zeros(B.to_numpy(p).shape))
    backward()
    zero(set_to_none=None)
    assert all(B.grad(p) is None for p in params), "zero_grad() without arguments must set every gradient to None"


@claim("accumulation.manual-zero-resets")
def test_manual_zero_resets(B, device, rng):
    x0, w0 = rng.standard_normal((8, 5)), rng.standard_normal((5, 3))
    x = B.tensor(x0, device=device)
    w = B.tensor(w0, device=device, requires_grad=True)
    B.backward(B.sum(B.relu(B.matmul(x, w)) ** 2))
    first = B.to_numpy(B.grad(w)).copy()
    B.zero_(B.grad(w))
    np.testing.assert_array_equal(B.to_numpy(B.grad(w)), 0.0, err_msg="w.grad.zero_() must zero the gradient")
    B.backward(B.sum(B.relu(B.matmul(x, w)) ** 2))
    assert_close(B, B.grad(w), first, what="w.grad after zero_() and one more backward")
