"""Gradient accumulation and zeroing: gradients add up across backward passes until zeroed.

Gradients are kept on tensors (``.grad``, Capability.STORES_GRADIENTS) or by an optimizer that holds them
(Capability.OPTIMIZER_GRADIENTS): gradients.KeptGradients takes the engine's own place. Where a
seed's scenario uses operations the claim is not about (002's BCE on ``ones(5) @ w``, 001's mean,
000's MLP and cross-entropy), the test runs in the seed's form, declaring them, and in the core
vocabulary."""

import numpy as np
import pytest

from autograd_conformance import models
from autograd_conformance.assertions import assert_close, nonempty
from autograd_conformance.models import as_in_out, linear_values
from autograd_conformance.gradients import KeptGradients
from autograd_conformance.protocol import Capability

claim = pytest.mark.claim
inputs = pytest.mark.inputs
uses = pytest.mark.uses
MEAN_FORMS = [pytest.param("mean", marks=uses("mean")), pytest.param("sum / n")]
KINDS = [pytest.param(k, marks=uses(*models.LAYER_KIND_OPERATIONS[k])) for k in models.SEED_LAYER_KINDS]


def _out(B, x, form, n):
    y = x + 2
    return B.mean(y * y * 3) if form == "mean" else B.sum(y * y * 3) / float(n)


@claim("accumulation.second-backward-adds")
@inputs("seed")
@pytest.mark.parametrize("form", MEAN_FORMS)
def test_second_backward_adds(B, device, form):
    x = B.tensor(np.ones((2, 2)), device=device, requires_grad=True)
    kept = KeptGradients(B, [x])
    out = _out(B, x, form, 4)
    kept.backward(out, retain_graph=True)
    assert_close(B, kept.grad(x), np.full((2, 2), 4.5), what="x.grad after one backward")
    kept.backward(out)
    assert_close(B, kept.grad(x), np.full((2, 2), 9.0), what="x.grad after a second backward")


@claim("accumulation.second-backward-adds")
@inputs("random")
def test_second_backward_adds_random(B, device, rng):
    """At random x of both signs, k = 3 passes through one graph: k times one pass."""
    x = B.tensor(rng.standard_normal((3, 4)) * 3, device=device, requires_grad=True)
    kept = KeptGradients(B, [x])
    once = 6 * (B.to_numpy(x).astype(np.float64) + 2) / 12
    out = _out(B, x, "sum / n", 12)
    for k in range(1, 4):
        kept.backward(out, retain_graph=k < 3)
        assert_close(B, kept.grad(x), k * once, what=f"x.grad after {k} backward passes at random x")


def _bce_parts(B, device, x0, w0, b0):
    """002 In [8]: z = x @ w + b and a BCE-with-logits loss against zeros(3)."""
    x, y = B.tensor(x0, device=device), B.tensor(np.zeros(3), device=device)
    w = B.tensor(w0, device=device, requires_grad=True)
    b = B.tensor(b0, device=device, requires_grad=True)
    return (w, b), B.bce_with_logits(B.matmul(x, w) + b, y)


def _elementwise_parts(B, device, x0, w0, b0, y0):
    """The same shape of graph in the core vocabulary: z = x w + b elementwise, a squared error."""
    x, y = B.tensor(x0, device=device), B.tensor(y0, device=device)
    w = B.tensor(w0, device=device, requires_grad=True)
    b = B.tensor(b0, device=device, requires_grad=True)
    z = x * w + b
    return (w, b), B.sum((z - y) ** 2)


@claim("accumulation.retain-twice-equals-double")
@uses("matmul", "bce_with_logits")
def test_retain_twice_equals_double(B, device, rng):
    """002 In [79] and In [81]: loss.backward(retain_graph=True); loss.backward() is 2x one pass."""
    w0, b0 = rng.standard_normal((5, 3)), rng.standard_normal(3)
    results = []
    for passes in (1, 2):
        params, loss = _bce_parts(B, device, np.ones(5), w0, b0)
        kept = KeptGradients(B, params)
        for i in range(passes):
            kept.backward(loss, retain_graph=i < passes - 1)
        results.append([B.to_numpy(kept.grad(p)).copy() for p in params])
    for name, once, twice in zip(("w", "b"), *results):
        assert_close(B, twice, 2 * once, what=f"{name}.grad after two passes vs 2 x one pass")


@claim("accumulation.retain-twice-equals-double")
def test_retain_k_times_equals_k_times(B, device, rng):
    """Leaves of both signs meeting in one product (x w + b, then squared): k passes through one
    retained graph give k times one pass, for every leaf."""
    x0, w0, b0, y0 = (rng.standard_normal(6) * 2 for _ in range(4))
    _, (once_w, once_b) = B.vjp(lambda w, b: B.sum((B.tensor(x0, device=device) * w + b
                                                     - B.tensor(y0, device=device)) ** 2),
                                [B.tensor(w0, device=device), B.tensor(b0, device=device)])
    for k in (2, 3):
        params, loss = _elementwise_parts(B, device, x0, w0, b0, y0)
        kept = KeptGradients(B, params)
        for i in range(k):
            kept.backward(loss, retain_graph=i < k - 1)
        for name, p, once in zip(("w", "b"), params, (once_w, once_b)):
            assert_close(B, kept.grad(p), k * B.to_numpy(once).astype(np.float64),
                         what=f"{name}.grad after {k} passes vs {k} x one pass")


@claim("accumulation.multi-task-losses-sum")
@pytest.mark.parametrize("case", [pytest.param("seed", marks=inputs("seed")),
                                  pytest.param("random", marks=inputs("random"))])
@uses("matmul", "bce_with_logits", "mse_loss")
def test_multi_task_losses_sum(B, device, rng, case):
    """002 § 튜토리얼 외의 내용: loss1.backward(retain_graph=True); loss2.backward(), on 002's BCE graph
    z = x @ w + b with a second loss, MSE against y."""
    x0 = np.ones(5) if case == "seed" else rng.standard_normal(5)
    w0, b0, y0 = rng.standard_normal((5, 3)), rng.standard_normal(3), rng.standard_normal(3)
    x, y, zeros = (B.tensor(a, device=device) for a in (x0, y0, np.zeros(3)))
    w = B.tensor(w0, device=device, requires_grad=True)
    b = B.tensor(b0, device=device, requires_grad=True)
    kept = KeptGradients(B, [w, b])
    z = B.matmul(x, w) + b
    kept.backward(B.bce_with_logits(z, zeros), retain_graph=True)
    kept.backward(B.mse_loss(z, y))
    _, g1 = B.vjp(lambda w, b: B.bce_with_logits(B.matmul(x, w) + b, zeros), [w, b])
    _, g2 = B.vjp(lambda w, b: B.mse_loss(B.matmul(x, w) + b, y), [w, b])
    for name, p, a, c in zip(("w", "b"), (w, b), g1, g2):
        a, c = B.to_numpy(a).astype(np.float64), B.to_numpy(c).astype(np.float64)
        assert not np.allclose(a, c), "the two losses have different gradients (else the test proves nothing)"
        assert_close(B, kept.grad(p), a + c, what=f"{name}.grad after loss1 and loss2 vs the sum of their gradients")


@claim("accumulation.multi-task-losses-sum")
@inputs("random")
def test_multi_task_losses_sum_core(B, device, rng):
    """Two losses on one graph whose leaves meet (z = x w + b, then two different functions of z),
    backward through each in turn: every leaf holds the sum of the two losses' gradients, which
    numpy computes (2 (z - y) and 3 z^2 c)."""
    x0, w0, b0, y0, c0 = (rng.standard_normal(5) * 2 for _ in range(5))
    x, y, c = (B.tensor(a, device=device) for a in (x0, y0, c0))
    w = B.tensor(w0, device=device, requires_grad=True)
    b = B.tensor(b0, device=device, requires_grad=True)
    kept = KeptGradients(B, [w, b])
    z = x * w + b
    kept.backward(B.sum((z - y) ** 2), retain_graph=True)
    kept.backward(B.sum(z * z * z * c))
    x64, w64, b64, y64, c64 = (B.to_numpy(t).astype(np.float64) for t in (x, w, b, y, c))
    z64 = x64 * w64 + b64
    dz = 2 * (z64 - y64) + 3 * z64 ** 2 * c64
    assert_close(B, kept.grad(w), dz * x64, what="w.grad after loss1 and loss2 vs the sum of their gradients")
    assert_close(B, kept.grad(b), dz, what="b.grad after loss1 and loss2 vs the sum of their gradients")


def _net(B, device):
    """A Sequential MLP 784-32-32-10 and its Linear layers (002 In [300]'s NeuralNetwork, narrowed)."""
    linears = [B.linear(784, 32, device=device), B.linear(32, 32, device=device), B.linear(32, 10, device=device)]
    return B.sequential(linears[0], B.relu_layer(), linears[1], B.relu_layer(), linears[2]), linears


NET_USES = ("linear", "linear_parameters", "relu_layer", "relu", "matmul", "cross_entropy")


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


def _kept_grads(B, kept, linears):
    """[(W's gradient as (n_in, n_out), b's) for each Linear], read by role."""
    result = []
    for layer in linears:
        weight, bias = B.linear_parameters(layer)
        g_w, g_b = kept.grad(weight), kept.grad(bias)
        assert g_w is not None and g_b is not None, "backward must give every Linear parameter a gradient"
        result.append((as_in_out(B, B.to_numpy(g_w)), B.to_numpy(g_b)))
    return result


@claim("accumulation.no-zero-grad-accumulates")
def test_no_zero_grad_accumulates_leaves(B, device, rng):
    """Backward through k separate graphs (new forwards from the same leaves at new inputs of both
    signs), never zeroing: each leaf's gradient is the sum of the k gradients, which numpy computes."""
    w0, b0 = rng.standard_normal(5), rng.standard_normal(5)
    w = B.tensor(w0, device=device, requires_grad=True)
    b = B.tensor(b0, device=device, requires_grad=True)
    kept = KeptGradients(B, [w, b])
    w64, b64 = (B.to_numpy(t).astype(np.float64) for t in (w, b))
    total_w, total_b = 0, 0
    for i in range(3):
        x, y = B.tensor(rng.standard_normal(5) * 2, device=device), B.tensor(rng.standard_normal(5), device=device)
        x64, y64 = (B.to_numpy(t).astype(np.float64) for t in (x, y))
        dz = 2 * (x64 * w64 + b64 - y64)
        total_w, total_b = total_w + dz * x64, total_b + dz
        kept.backward(B.sum((x * w + b - y) ** 2))
        what = f"after {i + 1} backward passes vs the sum of their gradients"
        assert_close(B, kept.grad(w), total_w, what=f"w.grad {what}")
        assert_close(B, kept.grad(b), total_b, what=f"b.grad {what}")


@claim("accumulation.no-zero-grad-accumulates")
@pytest.mark.needs(Capability.MODULES.value, Capability.OPTIMIZERS.value)
@uses(*NET_USES)
def test_no_zero_grad_accumulates(B, device):
    """002 In [301]: the seed's loop without zero_grad, stepping: each gradient is the running sum."""
    model, linears = _net(B, device)
    x, label = _sample(B, device)
    opt = B.sgd([p for _, p in B.named_parameters(model)], lr=1e-2)
    kept = KeptGradients(B, [p for _, p in B.named_parameters(model)], opt)
    total = None
    for i in range(4):
        fresh = _fresh_grads(B, device, linears, x, label)
        total = fresh if total is None else [(tw + fw, tb + fb) for (tw, tb), (fw, fb) in zip(total, fresh)]
        kept.backward(B.cross_entropy(model(x), label))  # no zero_grad
        for k, ((g_w, g_b), (want_w, want_b)) in enumerate(zip(_kept_grads(B, kept, linears), total)):
            what = f"after {i + 1} iterations vs the sum of the fresh gradients"
            assert_close(B, g_w, want_w, what=f"Linear {k} weight.grad {what}")
            assert_close(B, g_b, want_b, what=f"Linear {k} bias.grad {what}")
        kept.step()


@claim("accumulation.zero-grad-each-step-fresh")
@uses(*NET_USES)
def test_zero_grad_each_step_fresh(B, device):
    """002 In [300]: zero_grad, backward, step: each gradient is that of the current weights alone."""
    model, linears = _net(B, device)
    x, label = _sample(B, device)
    opt = B.sgd([p for _, p in B.named_parameters(model)], lr=1e-2)
    kept = KeptGradients(B, [p for _, p in B.named_parameters(model)], opt)
    for i in range(4):
        fresh = _fresh_grads(B, device, linears, x, label)
        kept.zero()
        kept.backward(B.cross_entropy(model(x), label))
        for k, ((g_w, g_b), (want_w, want_b)) in enumerate(zip(_kept_grads(B, kept, linears), fresh)):
            assert_close(B, g_w, want_w, what=f"Linear {k} weight.grad at iteration {i + 1} vs the fresh gradient")
            assert_close(B, g_b, want_b, what=f"Linear {k} bias.grad at iteration {i + 1} vs the fresh gradient")
        kept.step()


def _elementwise_model(B, device, rng):
    """A module of two parameter vectors, out = (w x + b)^2 summed: its gradients by numpy."""
    w = B.parameter(B.tensor(rng.standard_normal(6), device=device))
    b = B.parameter(B.tensor(rng.standard_normal(6), device=device))
    return B.module(lambda m, x: B.sum((m.w * x + m.b) ** 2), w=w, b=b)


@claim("accumulation.zero-grad-each-step-fresh")
def test_zero_grad_each_step_fresh_core(B, device, rng):
    """Zeroing before each backward, stepping after it, at new inputs of both signs each time: every
    gradient is that of the current weights and input alone."""
    model = _elementwise_model(B, device, rng)
    params = [p for _, p in nonempty("parameters", B.named_parameters(model))]
    opt = B.sgd(params, lr=0.05)
    kept = KeptGradients(B, params, opt)
    for i in range(4):
        x = B.tensor(rng.standard_normal(6) * 2, device=device)
        x64 = B.to_numpy(x).astype(np.float64)
        w64, b64 = (B.to_numpy(p).astype(np.float64) for p in (model.w, model.b))
        dz = 2 * (w64 * x64 + b64)
        kept.zero()
        kept.backward(model(x))
        assert_close(B, kept.grad(model.w), dz * x64, what=f"w.grad at iteration {i + 1} vs the fresh gradient")
        assert_close(B, kept.grad(model.b), dz, what=f"b.grad at iteration {i + 1} vs the fresh gradient")
        kept.step()


def _grads_over_iterations(B, device, step: bool, model, x, forward):
    params = nonempty("parameters", (p for _, p in B.named_parameters(model)))
    opt = B.sgd(params, lr=0.1)
    kept = KeptGradients(B, params, opt)
    seen = []
    for _ in range(3):
        kept.zero()
        kept.backward(forward())
        seen.append([B.to_numpy(kept.grad(p)).copy() for p in params])
        if step:
            kept.step()
    return seen


def _check_same_grad(B, device, build):
    for step in (False, True):
        model, forward = build()
        first, *rest = _grads_over_iterations(B, device, step, model, None, forward)
        if not step:
            for i, grads in enumerate(rest, 2):
                for g0, g in zip(first, grads):
                    np.testing.assert_array_equal(g, g0, err_msg=f"iteration {i} without step() must repeat the gradient")
        else:
            assert any(not np.array_equal(g0, g) for g0, g in zip(first, rest[0])), \
                "with step() between iterations the gradient must change"


@claim("accumulation.no-step-same-grad")
@uses("linear", "relu_layer", "cross_entropy")
def test_no_step_same_grad(B, device):
    """002 In [305] as its title says: zero_grad and backward on the same input, without step()."""
    def build():
        model, _ = _net(B, device)
        x, label = _sample(B, device)
        return model, lambda: B.cross_entropy(model(x), label)
    _check_same_grad(B, device, build)


@claim("accumulation.no-step-same-grad")
def test_no_step_same_grad_core(B, device, rng):
    x = B.tensor(rng.standard_normal(6) * 2, device=device)
    values = np.random.default_rng(1)

    def build():
        model = _elementwise_model(B, device, values)
        return model, lambda: model(x)
    _check_same_grad(B, device, build)


@claim("accumulation.zero-grad-sets-none")
@pytest.mark.parametrize("kind", KINDS)
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
@uses("matmul", "relu")
def test_manual_zero_resets(B, device, rng):
    """004 § 3: w.grad.zero_() after the update, on the seed's relu(x w) graph."""
    x0, w0 = rng.standard_normal((8, 5)), rng.standard_normal((5, 3))
    x = B.tensor(x0, device=device)
    w = B.tensor(w0, device=device, requires_grad=True)
    B.backward(B.sum(B.relu(B.matmul(x, w)) ** 2))
    first = B.to_numpy(B.grad(w)).copy()
    B.zero_(B.grad(w))
    np.testing.assert_array_equal(B.to_numpy(B.grad(w)), 0.0, err_msg="w.grad.zero_() must zero the gradient")
    B.backward(B.sum(B.relu(B.matmul(x, w)) ** 2))
    assert_close(B, B.grad(w), first, what="w.grad after zero_() and one more backward")


@claim("accumulation.manual-zero-resets")
def test_manual_zero_resets_core(B, device, rng):
    """w.grad.zero_() between two backward passes at different inputs: the second gradient is the
    second input's alone, which numpy computes."""
    w = B.tensor(rng.standard_normal(5) * 2, device=device, requires_grad=True)
    x1, x2 = (B.tensor(rng.standard_normal(5) * 2, device=device) for _ in range(2))
    B.backward(B.sum((x1 * w) ** 2))
    B.zero_(B.grad(w))
    np.testing.assert_array_equal(B.to_numpy(B.grad(w)), 0.0, err_msg="w.grad.zero_() must zero the gradient")
    B.backward(B.sum((x2 * w) ** 2))
    x64, w64 = (B.to_numpy(t).astype(np.float64) for t in (x2, w))
    assert_close(B, B.grad(w), 2 * x64 * x64 * w64, what="w.grad after zero_() and a backward at a new input")
