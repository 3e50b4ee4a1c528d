"""Manual backprop (004 § 1, in numpy) against autograd (004 § 3) on the seeds' two-layer ReLU net."""

import numpy as np
import pytest

from autograd_conformance.check import assert_close
from autograd_conformance.models import TWO_LAYER_WORKLOAD as WORKLOAD, two_layer_arrays
from autograd_conformance.models import numpy_two_layer_grads as numpy_grads

claim = pytest.mark.claim


@claim("manual.numpy-equals-autograd")
@pytest.mark.workload(WORKLOAD)
def test_numpy_equals_autograd(B, device, rng):
    x0, y0, w1_0, w2_0 = two_layer_arrays(rng, np.float64)
    x, y = B.tensor(x0, device=device), B.tensor(y0, device=device)
    loss, (g1, g2) = B.vjp(lambda w1, w2: B.sum((B.matmul(B.relu(B.matmul(x, w1)), w2) - y) ** 2),
                           [B.tensor(w1_0, device=device), B.tensor(w2_0, device=device)])
    want_loss, want_g1, want_g2 = numpy_grads(x0, y0, w1_0, w2_0)
    assert_close(B, loss, want_loss, what="loss")
    assert_close(B, g1, want_g1, what="grad_w1 (autograd vs manual numpy)", relative_to="max")
    assert_close(B, g2, want_g2, what="grad_w2 (autograd vs manual numpy)", relative_to="max")


@claim("manual.training-equals-autograd")
@pytest.mark.workload(WORKLOAD)
def test_training_equals_autograd(B, device, rng):
    x0, y0, w1_0, w2_0 = two_layer_arrays(rng, np.float64)
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
