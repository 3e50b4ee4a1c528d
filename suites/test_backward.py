"""backward and vector-Jacobian products: gradient values, seeds, shapes and which tensors get .grad.

Gradient values are checked twice where the backend allows: through the functional ``B.vjp``
(every engine) and through stateful ``B.backward`` (engines with Capability.BACKWARD)."""

import numpy as np
import pytest

from autograd_conformance.check import as_in_out, assert_close
from autograd_conformance.protocol import Capability

claim = pytest.mark.claim
needs_backward = pytest.mark.requires(Capability.BACKWARD.value)


def _mean_of_3_squares(B, x):
    y = x + 2
    return B.mean(y * y * 3)


@claim("backward.mean-of-3-squares")
def test_mean_of_3_squares_functional(B, device):
    x = B.tensor(np.ones((2, 2)), device=device)
    out, (dx,) = B.vjp(lambda x: _mean_of_3_squares(B, x), [x])
    assert_close(B, out, 27.0, what="out = mean(3 (x + 2)^2) at x = 1")
    assert_close(B, dx, np.full((2, 2), 4.5), what="d out / dx")


@claim("backward.mean-of-3-squares")
@needs_backward
def test_mean_of_3_squares_backward(B, device):
    x = B.tensor(np.ones((2, 2)), device=device, requires_grad=True)
    B.backward(_mean_of_3_squares(B, x))
    assert_close(B, B.grad(x), np.full((2, 2), 4.5), what="x.grad after out.backward()")


@claim("backward.scalar-default-seed")
def test_scalar_default_seed(B, device):
    x1 = B.tensor([1.0, -2.0, 3.0], device=device, requires_grad=True)
    x2 = B.tensor([1.0, -2.0, 3.0], device=device, requires_grad=True)
    B.backward(B.sum(x1 * x1 * x1))
    B.backward(B.sum(x2 * x2 * x2), B.tensor(1.0, device=device))
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


@claim("backward.vjp-seed-vector")
def test_vjp_seed_vector_functional(B, device):
    x = B.tensor(SEED_X, device=device)
    v = B.tensor(SEED_V, device=device)
    y, (dx,) = B.vjp(lambda x: _doubling(B, x), [x], v)
    assert_close(B, y, np.array(SEED_X) * 1024, what="y = x * 2^10")
    assert_close(B, dx, [102.4, 1024.0, 0.1024], what="v^T J for y = x * 2^10")


@claim("backward.vjp-seed-vector")
@needs_backward
def test_vjp_seed_vector_backward(B, device):
    x = B.tensor(SEED_X, device=device, requires_grad=True)
    B.backward(_doubling(B, x), B.tensor(SEED_V, device=device))
    assert_close(B, B.grad(x), [102.4, 1024.0, 0.1024], what="x.grad after y.backward(v)")


@claim("backward.vjp-linear-in-seed")
def test_vjp_linear_in_seed(B, device, rng):
    x = B.tensor(rng.standard_normal(4), device=device)
    u, v = rng.standard_normal(4), rng.standard_normal(4)

    def f(x):
        return B.exp(x) * x

    def vjp(seed):
        return B.to_numpy(B.vjp(f, [x], B.tensor(seed, device=device))[1][0])

    assert_close(B, vjp(2 * u - 3 * v), 2 * vjp(u) - 3 * vjp(v), what="VJP(2u - 3v) vs 2 VJP(u) - 3 VJP(v)")
    expected = u * (np.exp(B.to_numpy(x)) * (1 + B.to_numpy(x)))
    assert_close(B, vjp(u), expected, what="VJP(u) of exp(x) * x")


@claim("backward.only-leaves-get-grad")
def test_only_leaves_get_grad(B, device):
    x = B.tensor(SEED_X, device=device, requires_grad=True)
    v = B.tensor(SEED_V, device=device)
    y = _doubling(B, x)
    B.backward(y, v)
    assert B.grad(x) is not None, "the leaf x must receive a gradient"
    assert B.grad(y) is None, "an intermediate result must not hold .grad"
    assert B.grad(v) is None, "the seed vector must not receive a gradient"


@claim("backward.chain-rule-40")
def test_chain_rule_40(B, device):
    w = B.tensor(2.0, device=device)
    z, (dw,) = B.vjp(lambda w: 10 * w ** 2 + 25, [w])
    assert_close(B, z, 65.0, what="z = 10 w^2 + 25 at w = 2")
    assert_close(B, dw, 40.0, what="dz/dw = 20 w at w = 2")


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


@claim("backward.bce-rows-equal-bias-grad")
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


@claim("backward.matmul-vector-shape")
def test_matmul_vector_shape(B, device, rng):
    z = B.matmul(B.tensor(np.ones(5), device=device), B.tensor(rng.standard_normal((5, 3)), device=device))
    assert B.to_numpy(z).shape == (3,), "ones(5) @ (5, 3) must be a length-3 vector"


@claim("backward.mse-loss")
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_loss(B, device, rng, reduction):
    out0, t0 = rng.standard_normal((1, 10)), rng.standard_normal((1, 10))
    t = B.tensor(t0, device=device)
    loss, (d,) = B.vjp(lambda o: B.mse_loss(o, t, reduction=reduction), [B.tensor(out0, device=device)])
    n = 10 if reduction == "mean" else 1
    assert_close(B, loss, np.sum((out0 - t0) ** 2) / n, what=f"MSE ({reduction})")
    assert_close(B, d, 2 * (out0 - t0) / n, what=f"d MSE ({reduction}) / d out")


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
def test_sum_is_zero_dim(B, device, rng):
    y_pred = B.tensor(rng.standard_normal((64, 10)), device=device)
    y = B.tensor(rng.standard_normal((64, 10)), device=device)
    loss = B.sum((y_pred - y) ** 2)
    assert B.to_numpy(loss).shape == (), "sum() must give a 0-dimensional tensor, not shape (1,)"


@claim("backward.relu-dead-units-zero-grad")
def test_relu_dead_units_zero_grad(B, device, rng):
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


@claim("backward.module-vjp-fills-param-grads")
def test_module_vjp_fills_param_grads(B, device, rng):
    first, second = B.linear(12, 8, device=device), B.linear(8, 10, device=device)
    net = B.sequential(first, B.relu_layer(), second)
    x0, v0 = rng.standard_normal((1, 12)), rng.standard_normal((1, 10))
    B.module_zero_grad(net)
    B.backward(net(B.tensor(x0, device=device)), B.tensor(v0, device=device))
    named = B.named_parameters(net)
    assert len(named) == 4, f"two Linear layers with bias own 4 parameters, got {[n for n, _ in named]}"
    for name, p in named:
        g = B.grad(p)
        assert g is not None, f"{name} must receive a gradient from out.backward(v)"
        assert B.to_numpy(g).shape == B.to_numpy(p).shape, f"{name}.grad must have its parameter's shape"
    (w1, b1), (w2, _) = B.linear_parameters(first), B.linear_parameters(second)
    w1_, w2_ = (as_in_out(B, B.to_numpy(w).astype(np.float64)) for w in (w1, w2))
    h = x0 @ w1_ + B.to_numpy(b1)
    dh = (v0 @ w2_.T) * (h > 0)
    expected = {"first.weight": x0.T @ dh, "first.bias": dh[0],  # v^T J by hand, (in, out) layout
                "second.weight": np.maximum(h, 0).T @ v0, "second.bias": v0[0]}
    for (role, want), p in zip(expected.items(), [*B.linear_parameters(first), *B.linear_parameters(second)]):
        got = B.to_numpy(B.grad(p))
        assert_close(B, as_in_out(B, got) if role.endswith("weight") else got, want,
                     what=f"{role}.grad vs the hand-written VJP")
