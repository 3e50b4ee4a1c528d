"""Manual backprop (004 § 1, in numpy) against autograd (004 § 3) on the seeds' two-layer ReLU net."""

import numpy as np
import pytest

from autograd_conformance.check import assert_close

claim = pytest.mark.claim

N, D_IN, H, D_OUT = 64, 1000, 100, 10


def numpy_grads(x, y, w1, w2):
    """The seeds' hand-written backward pass, verbatim in structure."""
    h = x.dot(w1)
    h_relu = np.maximum(h, 0)
    y_pred = h_relu.dot(w2)
    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h_relu.T.dot(grad_y_pred)
    grad_h = grad_y_pred.dot(w2.T)
    grad_h[h < 0] = 0
    grad_w1 = x.T.dot(grad_h)
    return np.square(y_pred - y).sum(), grad_w1, grad_w2


def _data(dtype):
    rng = np.random.default_rng(0)  # its own: no test order or plugin changes it
    x, y = rng.standard_normal((N, D_IN)), rng.standard_normal((N, D_OUT))
    w1, w2 = rng.standard_normal((D_IN, H)), rng.standard_normal((H, D_OUT))
    return [a.astype(dtype) for a in (x, y, w1, w2)]


WORKLOAD = N * D_IN * H + N * H * D_OUT  # multiply-adds of one forward pass


@claim("manual.numpy-equals-autograd")
@pytest.mark.workload(WORKLOAD)
def test_numpy_equals_autograd(B, device):
    x0, y0, w1_0, w2_0 = _data(np.float64)
    x, y = B.tensor(x0, device=device), B.tensor(y0, device=device)
    loss, (g1, g2) = B.vjp(lambda w1, w2: B.sum((B.matmul(B.relu(B.matmul(x, w1)), w2) - y) ** 2),
                           [B.tensor(w1_0, device=device), B.tensor(w2_0, device=device)])
    want_loss, want_g1, want_g2 = numpy_grads(x0, y0, w1_0, w2_0)
    assert_close(B, loss, want_loss, what="loss")
    assert_close(B, g1, want_g1, what="grad_w1 (autograd vs manual numpy)", relative_to="max")
    assert_close(B, g2, want_g2, what="grad_w2 (autograd vs manual numpy)", relative_to="max")


@claim("manual.training-equals-autograd")
@pytest.mark.workload(WORKLOAD)
def test_training_equals_autograd(B, device):
    x0, y0, w1_0, w2_0 = _data(np.float64)
    lr, steps = 1e-6, 10
    m1, m2 = w1_0.copy(), w2_0.copy()
    x, y = B.tensor(x0, device=device), B.tensor(y0, device=device)
    w1 = B.tensor(w1_0, device=device, requires_grad=True)
    w2 = B.tensor(w2_0, device=device, requires_grad=True)
    for _ in range(steps):
        _, g1, g2 = numpy_grads(x0, y0, m1, m2)
        m1 -= lr * g1
        m2 -= lr * g2
        B.backward(B.sum((B.matmul(B.relu(B.matmul(x, w1)), w2) - y) ** 2))
        for w in (w1, w2):
            B.sub_(w, B.grad(w) * lr)
            B.zero_(B.grad(w))
    # both start from the same float64 weights; the engine computes in its own float dtype
    assert_close(B, w1, m1, what=f"w1 after {steps} steps (autograd vs manual numpy)", relative_to="max")
    assert_close(B, w2, m2, what=f"w2 after {steps} steps (autograd vs manual numpy)", relative_to="max")
