"""Custom autograd Functions (004 § 4): a forward rule plus a hand-written backward rule.

The seeds' MyReLU zeroes the gradient with a mask, ``grad_input[input < 0] = 0`` (``where`` and
``lt``, declared); its core form multiplies by relu(x) / x instead, which is 1 where x > 0 and 0
where x < 0 exactly (the tests keep x away from 0, where the two rules differ)."""

import numpy as np
import pytest

from autograd_conformance.assertions import assert_close

claim = pytest.mark.claim
uses = pytest.mark.uses
FORMS = [pytest.param("mask", marks=uses("where", "lt")), pytest.param("core")]


def my_relu(B, form="mask"):
    """The seeds' MyReLU: forward clamps at 0 and saves its input; backward zeroes where input < 0."""

    def forward(x):
        return B.relu(x), (x,)

    def backward(saved, grad_output):
        (x,) = saved
        if form == "core":
            return (grad_output * (B.relu(x) / x),)
        return (B.where(B.lt(x, 0), grad_output * 0, grad_output),)

    return B.custom_function(forward, backward)


def away_from_zero(a, margin=1e-3):
    return np.where(np.abs(a) < margin, margin * 2, a)


def _two_layer_loss(B, relu, x, y, form):
    def loss(w1, w2):
        if form == "core":  # elementwise layers
            return B.sum((relu(x * w1) * w2 - y) ** 2)
        return B.sum((B.matmul(relu(B.matmul(x, w1)), w2) - y) ** 2)
    return loss


@claim("custom.myrelu-equals-relu")
@pytest.mark.parametrize("form", FORMS)
def test_myrelu_equals_relu(B, device, rng, form):
    x = B.tensor(away_from_zero(rng.standard_normal((64, 100))), device=device)
    v = B.tensor(rng.standard_normal((64, 100)), device=device)
    out, (dx,) = B.vjp(lambda x: B.sum(my_relu(B, form)(x) * v), [x])
    ref_out, (ref_dx,) = B.vjp(lambda x: B.sum(B.relu(x) * v), [x])
    assert_close(B, my_relu(B, form)(x), B.relu(x), what="MyReLU forward vs built-in relu")
    assert_close(B, out, ref_out, what="MyReLU forward vs built-in relu (sum(relu(x) * v))")
    assert_close(B, dx, ref_dx, what="MyReLU gradient vs built-in relu")
    x64 = B.to_numpy(x).astype(np.float64)
    assert_close(B, dx, B.to_numpy(v) * (x64 > 0), what="MyReLU gradient vs v where x > 0")


@claim("custom.backward-rule-is-used")
def test_backward_rule_is_used(B, device, rng):
    # The forward is x^2 (derivative 2x); the backward rule says 3. Only an engine that calls the
    # custom backward, rather than differentiating the forward, gives 3 * v.
    def forward(x):
        return x * x, ()

    def backward(saved, grad_output):
        return (grad_output * 3,)

    f = B.custom_function(forward, backward)
    x = B.tensor(rng.standard_normal(5), device=device)
    v = B.tensor(rng.standard_normal(5), device=device)
    _, (dx,) = B.vjp(lambda x: B.sum(f(x) * v), [x])
    assert_close(B, dx, 3 * B.to_numpy(v).astype(np.float64),
                 what="gradient of a function whose backward returns 3 * grad_output")


@claim("custom.residuals-reach-backward")
def test_residuals_reach_backward(B, device, rng):
    received = []

    def forward(x):
        return x * x, (x, x * 2)

    def backward(saved, grad_output):
        received.append([B.to_numpy(t) for t in saved])
        x, twice = saved
        return (grad_output * twice,)

    x0 = rng.standard_normal(4)
    f = B.custom_function(forward, backward)
    _, (dx,) = B.vjp(lambda x: B.sum(f(x)), [B.tensor(x0, device=device)])
    assert len(received) == 1, "backward must be called exactly once"
    assert_close(B, received[0][0], x0, what="the first saved tensor as backward sees it")
    assert_close(B, received[0][1], 2 * x0, what="the second saved tensor as backward sees it")
    assert_close(B, dx, 2 * x0, what="d(x^2)/dx through the saved 2x")


@claim("custom.training-matches-builtin")
@pytest.mark.workload(64 * 100 * 50 + 64 * 50 * 10)
@pytest.mark.parametrize("form", [pytest.param("mask", marks=uses("where", "lt", "matmul")), "core"])
def test_training_matches_builtin(B, device, rng, form):
    """004 § 4: the two-layer net trained with MyReLU and with relu (elementwise layers in the core
    form), w -= lr * w.grad and w.grad.zero_() for 20 steps."""
    if form == "core":
        x0, y0 = away_from_zero(rng.standard_normal(40)), rng.standard_normal(40)
        w1_0, w2_0 = away_from_zero(rng.standard_normal(40)), rng.standard_normal(40)
        lr = 1e-2
    else:
        x0, y0 = rng.standard_normal((64, 100)), rng.standard_normal((64, 10))
        w1_0, w2_0 = rng.standard_normal((100, 50)), rng.standard_normal((50, 10))
        lr = 1e-5
    finals = []
    for relu in (my_relu(B, form), B.relu):
        x, y = B.tensor(x0, device=device), B.tensor(y0, device=device)
        w1 = B.tensor(w1_0, device=device, requires_grad=True)
        w2 = B.tensor(w2_0, device=device, requires_grad=True)
        for _ in range(20):
            B.backward(_two_layer_loss(B, relu, x, y, form)(w1, w2))
            for w in (w1, w2):
                B.sub_(w, B.grad(w) * lr)
                B.zero_(B.grad(w))
        finals.append((B.to_numpy(w1), B.to_numpy(w2)))
    (c1, c2), (r1, r2) = finals
    assert_close(B, c1, r1, what="w1 after 20 steps: custom ReLU vs built-in")
    assert_close(B, c2, r2, what="w2 after 20 steps: custom ReLU vs built-in")


@claim("custom.non-tensor-residuals-reach-backward")
@pytest.mark.parametrize("scale", [pytest.param(2.0, id="seed-like"), pytest.param(0.1, id="inexact")])
def test_non_tensor_residuals_reach_backward(B, device, rng, scale):
    """004 § 4's docstring: forward may keep any object for backward. A Python number saved beside a
    tensor reaches backward unchanged (0.1 is not exact in any binary float: a number turned into a
    tensor of lower precision on the way shows)."""
    received = []

    def forward(x):
        return x * scale, (x, scale)

    def backward(saved, grad_output):
        received.append(saved[1])
        return (grad_output * saved[1],)

    x0 = rng.standard_normal(5)
    f = B.custom_function(forward, backward)
    _, (dx,) = B.vjp(lambda x: B.sum(f(x) ** 2), [B.tensor(x0, device=device)])
    assert received, "backward was not called"
    for number in received:
        assert isinstance(number, (int, float)) and number == scale, \
            f"the saved Python number {scale!r} must reach backward as it was saved, got {number!r}"
    assert_close(B, dx, 2 * scale * scale * x0, what=f"d sum((x * {scale})^2) / dx through the saved number")
