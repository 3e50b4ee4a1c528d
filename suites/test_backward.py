"""backward and vector-Jacobian products: gradient values, seeds, shapes and which tensors get .grad.

Gradient values are checked twice where the backend allows: through the functional ``B.vjp``
(every engine) and through stateful ``B.backward`` (engines with Capability.STORES_GRADIENTS). Where a
seed's scenario uses an operation its claim is not about (001's mean, 002's matmul and BCE), the
test runs in two forms: the seed's own, declaring the operation (``@pytest.mark.uses``), and one
in the core vocabulary (``sum(...) / n`` for a mean), so an engine without the operation still has
the claim checked.

Backward from a module's output: every parameter of every layer kind the seeds use gets its
gradient, equal to numpy backprop (001 In [53] and In [60], the seeds' LeNet). Weights are read by
role (models.linear_values, models.conv_values), gradients compared in the same orientation, so no
engine is held to torch's layout."""

import numpy as np
import pytest

from autograd_conformance import models, references
from autograd_conformance.assertions import assert_close, assert_engine_refuses
from autograd_conformance.models import as_in_out
from autograd_conformance.protocol import Capability

claim = pytest.mark.claim
inputs = pytest.mark.inputs
uses = pytest.mark.uses
needs_stored_gradients = pytest.mark.needs(Capability.STORES_GRADIENTS.value)
# 001 In [14]'s mean, as the seed writes it and in the core vocabulary
MEAN_FORMS = [pytest.param("mean", marks=uses("mean")), pytest.param("sum / n")]


def _mean(B, t, form, n):
    return B.mean(t) if form == "mean" else B.sum(t) / float(n)


def _mean_of_3_squares(B, x, form, n=4):
    y = x + 2
    return _mean(B, y * y * 3, form, n)


def _shape(B, t) -> tuple:
    return tuple(np.shape(B.to_numpy(t)))


@claim("backward.mean-of-3-squares")
@inputs("seed")
@pytest.mark.parametrize("form", MEAN_FORMS)
def test_mean_of_3_squares_functional(B, device, form):
    x = B.tensor(np.ones((2, 2)), device=device)
    out, (dx,) = B.vjp(lambda x: _mean_of_3_squares(B, x, form), [x])
    assert_close(B, out, 27.0, what="out = mean(3 (x + 2)^2) at x = 1")
    assert_close(B, dx, np.full((2, 2), 4.5), what="d out / dx")


@claim("backward.mean-of-3-squares")
@inputs("seed")
@needs_stored_gradients
@pytest.mark.parametrize("form", MEAN_FORMS)
def test_mean_of_3_squares_backward(B, device, form):
    x = B.tensor(np.ones((2, 2)), device=device, requires_grad=True)
    B.backward(_mean_of_3_squares(B, x, form))
    assert_close(B, B.grad(x), np.full((2, 2), 4.5), what="x.grad after out.backward()")


@claim("backward.mean-of-3-squares")
@inputs("random")
@pytest.mark.optional('stores_gradients')
def test_mean_of_3_squares_random(B, device, rng):
    """At random x of both signs and another shape: out = mean(3 (x + 2)^2), d out/dx = 6 (x + 2) / n."""
    x = B.tensor(rng.standard_normal((3, 5)) * 3, device=device, requires_grad=True)
    x64 = B.to_numpy(x).astype(np.float64)
    out, (dx,) = B.vjp(lambda x: _mean_of_3_squares(B, x, "sum / n", 15), [x])
    assert_close(B, out, np.mean(3 * (x64 + 2) ** 2), what="mean(3 (x + 2)^2) at random x")
    assert_close(B, dx, 6 * (x64 + 2) / x64.size, what="d out / dx at random x")
    if Capability.STORES_GRADIENTS in B.capabilities:
        B.backward(_mean_of_3_squares(B, x, "sum / n", 15))
        assert_close(B, B.grad(x), 6 * (x64 + 2) / x64.size, what="x.grad at random x")


@claim("backward.scalar-default-seed")
def test_scalar_default_seed(B, device):
    """backward() and backward(ones of the output's shape): torch's tensor(1.) for its 0-d outputs."""
    x1 = B.tensor([1.0, -2.0, 3.0], device=device, requires_grad=True)
    x2 = B.tensor([1.0, -2.0, 3.0], device=device, requires_grad=True)
    B.backward(B.sum(x1 * x1 * x1))
    out = B.sum(x2 * x2 * x2)
    B.backward(out, B.tensor(np.ones(_shape(B, out)), device=device))
    assert_close(B, B.grad(x1), B.grad(x2), what="backward() vs backward(tensor(1.))")
    assert_close(B, B.grad(x1), [3.0, 12.0, 27.0], what="d sum(x^3)/dx = 3x^2")


SEED_X = [0.1111, 1.6964, 0.8650]  # the x printed in 001 In [31]
SEED_V = [0.1, 1.0, 0.0001]


def _doubling(B, x):
    """001 In [31]: y = x * 2, doubled while its norm is below 1000 (ten doublings here)."""
    y = x * 2
    while np.linalg.norm(B.to_numpy(y)) < 1000:
        y = y * 2
    return y


def _ten_doublings(x):
    """001 In [31]'s y for its x: x * 2, doubled nine more times. Inside a function that vjp or
    jacobian differentiate, the doublings are counted here rather than by reading y's values (an
    engine may not read values inside a transformation: that is dynamic.data-dependent-loop's
    claim, not these)."""
    y = x * 2
    for _ in range(9):
        y = y * 2
    return y


@claim("backward.vjp-seed-vector")
@inputs("seed")
def test_vjp_seed_vector_functional(B, device):
    x = B.tensor(SEED_X, device=device)
    v = B.tensor(SEED_V, device=device)
    y, (dx,) = B.vjp(_ten_doublings, [x], v)
    assert_close(B, y, np.array(SEED_X) * 1024, what="y = x * 2^10")
    assert_close(B, dx, [102.4, 1024.0, 0.1024], what="v^T J for y = x * 2^10")


@claim("backward.vjp-seed-vector")
@inputs("seed")
@needs_stored_gradients
def test_vjp_seed_vector_backward(B, device):
    x = B.tensor(SEED_X, device=device, requires_grad=True)
    B.backward(_doubling(B, x), B.tensor(SEED_V, device=device))
    assert_close(B, B.grad(x), [102.4, 1024.0, 0.1024], what="x.grad after y.backward(v)")


@claim("backward.vjp-seed-vector")
@inputs("random")
@pytest.mark.optional('stores_gradients')
def test_vjp_seed_vector_random(B, device, rng):
    """A random cotangent of both signs on y = c x^2 + x (every element its own factor): v^T J, not
    sum(J) or an ignored cotangent."""
    x0, c0, v0 = rng.standard_normal(5) * 3, rng.standard_normal(5), rng.standard_normal(5)
    x, c, v = (B.tensor(t, device=device) for t in (x0, c0, v0))
    x64, c64, v64 = (B.to_numpy(t).astype(np.float64) for t in (x, c, v))
    out, (dx,) = B.vjp(lambda x: c * x * x + x, [x], v)
    assert_close(B, out, c64 * x64 ** 2 + x64, what="y = c x^2 + x")
    assert_close(B, dx, v64 * (2 * c64 * x64 + 1), what="v^T J of c x^2 + x")
    if Capability.STORES_GRADIENTS in B.capabilities:
        xt = B.tensor(x0, device=device, requires_grad=True)
        B.backward(c * xt * xt + xt, v)
        assert_close(B, B.grad(xt), v64 * (2 * c64 * x64 + 1), what="x.grad after y.backward(v)")


@claim("backward.vjp-seed-vector")
@inputs("random")
@uses("matmul")
@pytest.mark.optional('stores_gradients')
def test_vjp_seed_vector_non_diagonal(B, device, rng):
    """A non-diagonal Jacobian (y = (A x)^2) and a random seed: v^T J, not J v or sum(J)."""
    a0, x0, v0 = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal(4)
    a, x, v = (B.tensor(t, device=device) for t in (a0, x0, v0))
    a64, x64, v64 = (B.to_numpy(t).astype(np.float64) for t in (a, x, v))
    jac = 2 * (a64 @ x64)[:, None] * a64
    _, (dx,) = B.vjp(lambda x: B.matmul(a, x) ** 2, [x], v)
    assert_close(B, dx, v64 @ jac, what="v^T J of (A x)^2")
    if Capability.STORES_GRADIENTS in B.capabilities:
        xt = B.tensor(x0, device=device, requires_grad=True)
        B.backward(B.matmul(a, xt) ** 2, v)
        assert_close(B, B.grad(xt), v64 @ jac, what="x.grad after y.backward(v) for y = (A x)^2")


@claim("backward.non-scalar-needs-seed")
@inputs("seed")
def test_non_scalar_needs_seed(B, device):
    """001: y = x * 2^10 is a vector: backward() must refuse; backward(v) then still works."""
    x = B.tensor(SEED_X, device=device, requires_grad=True)
    y = _doubling(B, x)
    assert_engine_refuses(lambda: B.backward(y), "backward() without a seed on a vector output")
    g = B.grad(x)
    assert g is None or not np.any(B.to_numpy(g)), "the refused backward must not store a gradient"
    B.backward(y, B.tensor(SEED_V, device=device))
    assert_close(B, B.grad(x), [102.4, 1024.0, 0.1024], what="x.grad after y.backward(v)")


@claim("backward.full-jacobian")
@inputs("seed")
def test_full_jacobian_seed(B, device):
    """001's doubling graph: J = 1024 I."""
    jac = B.jacobian(_ten_doublings, B.tensor(SEED_X, device=device))
    assert_close(B, jac, 1024 * np.eye(3), what="the Jacobian of x * 2^10")


@claim("backward.full-jacobian")
@inputs("random")
def test_full_jacobian_elementwise(B, device, rng):
    """y = c x^2 + x at random x and c of both signs: J = diag(2 c x + 1), row i the VJP with the
    unit seed e_i (taken as the gradient of sum(y * e_i))."""
    x0, c0 = rng.standard_normal(4) * 3, rng.standard_normal(4)
    x, c = B.tensor(x0, device=device), B.tensor(c0, device=device)
    x64, c64 = (B.to_numpy(t).astype(np.float64) for t in (x, c))
    jac = B.jacobian(lambda x: c * x * x + x, x)
    assert_close(B, jac, np.diag(2 * c64 * x64 + 1), what="the Jacobian of c x^2 + x")
    for i in range(4):
        e = B.tensor(np.eye(4)[i], device=device)
        _, (row,) = B.vjp(lambda x: B.sum((c * x * x + x) * e), [x])
        assert_close(B, B.to_numpy(jac)[i], row, what=f"row {i} of the Jacobian vs the VJP with unit seed e_{i}")


@claim("backward.full-jacobian")
@inputs("random")
@uses("matmul")
def test_full_jacobian_non_diagonal(B, device, rng):
    a0, x0 = rng.standard_normal((4, 3)), rng.standard_normal(3)
    a, x = B.tensor(a0, device=device), B.tensor(x0, device=device)
    a64, x64 = (B.to_numpy(t).astype(np.float64) for t in (a, x))

    def f(x):
        return B.matmul(a, x) ** 2

    jac = B.jacobian(f, x)
    assert_close(B, jac, 2 * (a64 @ x64)[:, None] * a64, what="the Jacobian of (A x)^2, shape (4, 3)")
    for i in range(4):
        e = B.tensor(np.eye(4)[i], device=device)
        _, (row,) = B.vjp(lambda x: B.sum(f(x) * e), [x])
        assert_close(B, B.to_numpy(jac)[i], row, what=f"row {i} of the Jacobian vs the VJP with unit seed e_{i}")


@claim("backward.vjp-linear-in-seed")
def test_vjp_linear_in_seed(B, device, rng):
    x = B.tensor(rng.standard_normal(4) * 2, device=device)
    u, v = rng.standard_normal(4), rng.standard_normal(4)

    def f(x):
        return x * x * x / (x * x + 1.0)

    def vjp(cotangent):
        return B.to_numpy(B.vjp(f, [x], B.tensor(cotangent, device=device))[1][0])

    assert_close(B, vjp(2 * u - 3 * v), 2 * vjp(u) - 3 * vjp(v), what="VJP(2u - 3v) vs 2 VJP(u) - 3 VJP(v)")
    x64 = B.to_numpy(x).astype(np.float64)
    expected = u * (x64 ** 4 + 3 * x64 ** 2) / (x64 ** 2 + 1) ** 2
    assert_close(B, vjp(u), expected, what="VJP(u) of x^3 / (x^2 + 1)")


@claim("backward.only-leaves-get-grad")
@uses("vjp(cotangent)")
def test_only_leaves_get_grad(B, device):
    """001 In [32]-[34]: y.backward(v), then x.grad, y.grad (None) and v.grad (None)."""
    x = B.tensor(SEED_X, device=device, requires_grad=True)
    v = B.tensor(SEED_V, device=device)
    y = _doubling(B, x)
    B.backward(y, v)
    assert B.grad(x) is not None, "the leaf x must receive a gradient"
    assert B.grad(y) is None, "an intermediate result must not hold .grad"
    assert B.grad(v) is None, "the seed vector must not receive a gradient"


@claim("backward.only-leaves-get-grad")
def test_only_leaves_get_grad_scalar(B, device, rng):
    """The same graph closed by an untracked weight vector into one number: backward() gives the
    leaf x a gradient, and neither the intermediate y nor the untracked vector one."""
    x = B.tensor(SEED_X, device=device, requires_grad=True)
    v = B.tensor(rng.standard_normal(3), device=device)
    y = _doubling(B, x)
    out = B.sum(y * v)
    B.backward(out)
    assert B.grad(x) is not None, "the leaf x must receive a gradient"
    assert B.grad(y) is None, "an intermediate result must not hold .grad"
    assert B.grad(out) is None, "the output backward started from must not hold .grad"
    assert B.grad(v) is None, "an untracked input must not receive a gradient"


@claim("backward.chain-rule-40")
@inputs("seed")
def test_chain_rule_40(B, device):
    w = B.tensor(2.0, device=device)
    z, (dw,) = B.vjp(lambda w: 10 * w ** 2 + 25, [w])
    assert_close(B, z, 65.0, what="z = 10 w^2 + 25 at w = 2")
    assert_close(B, dw, 40.0, what="dz/dw = 20 w at w = 2")


@claim("backward.chain-rule-40")
@inputs("seed")
@needs_stored_gradients
def test_chain_rule_40_backward(B, device):
    """003 § AutoGrad as written: y = w ** 2; z = 10 * y + 25; z.backward(); w.grad."""
    w = B.tensor(2.0, device=device, requires_grad=True)
    y = w ** 2
    B.backward(10 * y + 25)
    assert_close(B, B.grad(w), 40.0, what="w.grad after z.backward() at w = 2")


@claim("backward.chain-rule-40")
@inputs("random")
@pytest.mark.optional('stores_gradients')
def test_chain_rule_random(B, device, rng):
    w0 = rng.standard_normal(5) * 3
    w = B.tensor(w0, device=device, requires_grad=True)
    w64 = B.to_numpy(w).astype(np.float64)
    _, (dw,) = B.vjp(lambda w: B.sum(10 * w ** 2 + 25), [w])
    assert_close(B, dw, 20 * w64, what="dz/dw = 20 w at random w")
    if Capability.STORES_GRADIENTS in B.capabilities:
        B.backward(B.sum(10 * w ** 2 + 25))
        assert_close(B, B.grad(w), 20 * w64, what="w.grad = 20 w at random w")


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


@claim("backward.bce-rows-equal-bias-grad")
@inputs("seed")
@uses("matmul")
def test_bce_rows_equal_bias_grad(B, device, rng):
    x, y = B.tensor(np.ones(5), device=device), B.tensor(np.zeros(3), device=device)
    w0, b0 = rng.standard_normal((5, 3)), rng.standard_normal(3)
    w, b = B.tensor(w0, device=device), B.tensor(b0, device=device)
    loss, (dw, db) = B.vjp(lambda w, b: B.bce_with_logits(B.matmul(x, w) + b, y), [w, b])
    dw, db = B.to_numpy(dw), B.to_numpy(db)
    for row in range(5):
        assert_close(B, dw[row], db, what=f"row {row} of dL/dw vs dL/db")
    z = np.ones(5) @ B.to_numpy(w).astype(np.float64) + B.to_numpy(b)  # the values the engine holds
    assert_close(B, db, (_sigmoid(z) - 0) / 3, what="dL/db = (sigmoid(z) - y) / 3")


@claim("backward.bce-rows-equal-bias-grad")
@inputs("random")
@uses("matmul")
def test_bce_grads_random(B, device, rng):
    """With a random x and y the rows of dL/dw are x_i dL/db: equal rows need x = ones."""
    x0, y0, w0, b0 = rng.standard_normal(5), rng.random(3), rng.standard_normal((5, 3)), rng.standard_normal(3)
    x, y, w, b = (B.tensor(t, device=device) for t in (x0, y0, w0, b0))
    x64, y64, w64, b64 = (B.to_numpy(t).astype(np.float64) for t in (x, y, w, b))
    _, (dw, db) = B.vjp(lambda w, b: B.bce_with_logits(B.matmul(x, w) + b, y), [w, b])
    want_db = (_sigmoid(x64 @ w64 + b64) - y64) / 3
    assert_close(B, db, want_db, what="dL/db = (sigmoid(z) - y) / 3 at random x, y")
    assert_close(B, dw, np.outer(x64, want_db), what="dL/dw = outer(x, dL/db) at random x, y")


@claim("backward.bce-rows-equal-bias-grad")
@inputs("random")
def test_rows_equal_bias_grad_core(B, device, rng):
    """The same structure in the core vocabulary: z = x_1 w_1 + ... + x_5 w_5 + b with the rows w_i
    as tensors of their own and x = ones, a loss of z: every row's gradient equals the bias's."""
    rows = [B.tensor(rng.standard_normal(3), device=device) for _ in range(5)]
    b, y = B.tensor(rng.standard_normal(3), device=device), B.tensor(rng.random(3), device=device)

    def loss(b, *rows):
        z = b
        for w in rows:
            z = z + w * 1.0  # x_i = 1
        return B.sum((z - y) ** 2) / 3.0

    _, (db, *dws) = B.vjp(loss, [b, *rows])
    z64 = sum(B.to_numpy(w).astype(np.float64) for w in rows) + B.to_numpy(b)
    assert_close(B, db, 2 * (z64 - B.to_numpy(y)) / 3, what="dL/db = 2 (z - y) / 3")
    for i, dw in enumerate(dws):
        assert_close(B, dw, B.to_numpy(db), what=f"row {i} of dL/dw vs dL/db")


@claim("backward.matmul-vector-shape")
def test_matmul_vector_shape(B, device, rng):
    z = B.matmul(B.tensor(np.ones(5), device=device), B.tensor(rng.standard_normal((5, 3)), device=device))
    assert _shape(B, z) == (3,), "ones(5) @ (5, 3) must be a length-3 vector"


@claim("backward.mse-loss")
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_loss(B, device, rng, reduction):
    out0, t0 = rng.standard_normal((1, 10)), rng.standard_normal((1, 10))
    t = B.tensor(t0, device=device)
    loss, (d,) = B.vjp(lambda o: B.mse_loss(o, t, reduction=reduction), [B.tensor(out0, device=device)])
    n = 10 if reduction == "mean" else 1
    assert_close(B, loss, np.sum((out0 - t0) ** 2) / n, what=f"MSE ({reduction})")
    assert_close(B, d, 2 * (out0 - t0) / n, what=f"d MSE ({reduction}) / d out")


@claim("backward.mse-loss")
def test_mse_loss_batch(B, device, rng):
    """A batch of 4 rows of 3: the mean is over all 12 elements, not over the batch's 4 rows."""
    out0, t0 = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    t = B.tensor(t0, device=device)
    loss, (d,) = B.vjp(lambda o: B.mse_loss(o, t), [B.tensor(out0, device=device)])
    assert_close(B, loss, np.mean((out0 - t0) ** 2), what="MSE (mean) over a (4, 3) batch")
    assert_close(B, d, 2 * (out0 - t0) / 12, what="d MSE / d out over a (4, 3) batch")


@claim("backward.cross-entropy")
def test_cross_entropy(B, device, rng):
    logits0, labels0 = rng.standard_normal((16, 10)), rng.integers(0, 10, 16)
    labels = B.tensor(labels0, device=device, dtype="int64")
    loss, (d,) = B.vjp(lambda z: B.cross_entropy(z, labels), [B.tensor(logits0, device=device)])
    p = np.exp(logits0 - logits0.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.eye(10)[labels0]
    assert_close(B, loss, -np.mean(np.log(p[np.arange(16), labels0])), what="cross-entropy")
    assert_close(B, d, (p - onehot) / 16, what="d CE / d logits")


@claim("backward.sum-is-zero-dim")
@inputs("random")
@pytest.mark.optional('stores_gradients')
def test_sum_is_zero_dim(B, device, rng):
    y_pred = B.tensor(rng.standard_normal((64, 10)), device=device, requires_grad=True)
    y = B.tensor(rng.standard_normal((64, 10)), device=device)
    loss = B.sum((y_pred - y) ** 2)
    assert _shape(B, loss) == (), f"sum() must give a 0-dimensional tensor, got shape {_shape(B, loss)}"
    if Capability.STORES_GRADIENTS in B.capabilities:
        B.backward(loss)  # no seed
        want = 2 * (B.to_numpy(y_pred).astype(np.float64) - B.to_numpy(y))
        assert_close(B, B.grad(y_pred), want, what="y_pred.grad after loss.backward() without a seed")


def _dead_units(rng, n):
    """x > 0, and for the units marked dead negative weights and bias: they never fire."""
    dead = np.zeros(n, dtype=bool)
    dead[::3] = True
    return dead


@claim("backward.relu-dead-units-zero-grad")
def test_relu_dead_units_zero_grad(B, device, rng):
    """Units as elements: h = relu(x w1 + b1), loss = sum(h w2 c), x > 0; the units whose weight
    and bias are negative never fire, and their w1, b1 and w2 get exactly zero gradient (a loss
    linear in the output, so that nothing but relu's own derivative can zero them)."""
    n = 6
    dead = _dead_units(rng, n)
    x0 = np.abs(rng.standard_normal(n)) + 0.1
    w1_0, b1_0, w2_0 = np.abs(rng.standard_normal(n)) + 0.1, np.abs(rng.standard_normal(n)), rng.standard_normal(n)
    w1_0[dead], b1_0[dead] = -w1_0[dead], -1.0 - b1_0[dead]
    x, c = B.tensor(x0, device=device), B.tensor(rng.standard_normal(n), device=device)

    def loss(w1, b1, w2):
        return B.sum(B.relu(x * w1 + b1) * w2 * c)

    _, grads = B.vjp(loss, [B.tensor(a, device=device) for a in (w1_0, b1_0, w2_0)])
    for name, g in zip(("w1", "b1", "w2"), grads):
        g = np.asarray(B.to_numpy(g))
        np.testing.assert_array_equal(g[dead], 0.0, err_msg=f"{name} of dead units: exactly 0")
        assert np.all(g[~dead] != 0), f"{name} of live units must get non-zero gradients"


@claim("backward.relu-dead-units-zero-grad")
@uses("matmul")
def test_relu_dead_units_zero_grad_layers(B, device, rng):
    """000 In [83]'s layers: relu(x W1 + b1) W2 on positive inputs, units 0 and 3 dead."""
    x0 = np.abs(rng.standard_normal((8, 4))) + 0.1  # positive inputs
    w1_0, b1_0, w2_0 = rng.standard_normal((4, 6)), rng.standard_normal(6), rng.standard_normal((6, 3))
    dead = np.array([True, False, False, True, False, False])
    w1_0[:, dead], b1_0[dead] = -np.abs(w1_0[:, dead]), -1.0  # units 0 and 3 never fire
    w1_0[:, ~dead], b1_0[~dead] = np.abs(w1_0[:, ~dead]), 1.0  # the others always do
    x = B.tensor(x0, device=device)

    def loss(w1, b1, w2):
        out = B.matmul(B.relu(B.matmul(x, w1) + b1), w2)
        return B.sum(out * out)

    _, (g_w1, g_b1, g_w2) = B.vjp(loss, [B.tensor(a, device=device) for a in (w1_0, b1_0, w2_0)])
    g_w1, g_b1, g_w2 = B.to_numpy(g_w1), B.to_numpy(g_b1), B.to_numpy(g_w2)
    np.testing.assert_array_equal(g_b1[dead], 0.0, err_msg="bias of dead units: exactly 0")
    np.testing.assert_array_equal(g_w1[:, dead], 0.0, err_msg="weights into dead units: exactly 0")
    np.testing.assert_array_equal(g_w2[dead], 0.0, err_msg="next-layer weights from dead units: exactly 0")
    assert np.all(g_b1[~dead] != 0) and np.all(g_w2[~dead] != 0), "live units get non-zero gradients"


# ---------------------------------------------------------------- backward from a module's output
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
    cotangent = 2 * (B.to_numpy(out).astype(np.float64) - target0) / target0.size  # d MSE / d out
    _, expected = references.numpy_chain(B, _lenet_steps(net), B.to_numpy(x).astype(np.float64), cotangent)
    _check_grads(B, _lenet_steps(net), B.named_parameters(net), expected, "LeNet loss.backward()")
