"""Manual backprop (004 § 1, in numpy) against autograd (004 § 3) on the seeds' two-layer ReLU net."""

import numpy as np
import pytest

from autograd_conformance.assertions import assert_close
from autograd_conformance.models import TWO_LAYER_WORKLOAD as WORKLOAD, two_layer_arrays
from autograd_conformance.references import numpy_two_layer_grads as numpy_grads
from autograd_conformance.protocol import Capability

claim = pytest.mark.claim
uses = pytest.mark.uses


def _elementwise_arrays(rng):
    """The two-layer net with elementwise layers (the core form): x, y, w1, w2 of 256 elements."""
    return [rng.standard_normal(256) for _ in range(4)]


def _elementwise_grads(x, y, w1, w2):
    """004 § 1's backprop by hand for y_pred = relu(x w1) w2 elementwise: (loss, dw1, dw2)."""
    h = x * w1
    h_relu = np.maximum(h, 0)
    grad_y_pred = 2.0 * (h_relu * w2 - y)
    grad_h = grad_y_pred * w2
    grad_h[h < 0] = 0
    return np.square(h_relu * w2 - y).sum(), grad_h * x, grad_y_pred * h_relu


def _elementwise_loss(B, x, y):
    return lambda w1, w2: B.sum((B.relu(x * w1) * w2 - y) ** 2)


@claim("manual.numpy-equals-autograd")
def test_numpy_equals_autograd_core(B, device, rng):
    x0, y0, w1_0, w2_0 = _elementwise_arrays(rng)
    x, y = B.tensor(x0, device=device), B.tensor(y0, device=device)
    w1, w2 = B.tensor(w1_0, device=device), B.tensor(w2_0, device=device)
    held = [B.to_numpy(t).astype(np.float64) for t in (x, y, w1, w2)]
    loss, (g1, g2) = B.vjp(_elementwise_loss(B, x, y), [w1, w2])
    want_loss, want_g1, want_g2 = _elementwise_grads(*held)
    assert_close(B, loss, want_loss, what="loss")
    assert_close(B, g1, want_g1, what="grad_w1 (autograd vs manual numpy)")
    assert_close(B, g2, want_g2, what="grad_w2 (autograd vs manual numpy)")


@claim("manual.numpy-equals-autograd")
@pytest.mark.workload(WORKLOAD)
@uses("matmul")
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
def test_training_equals_autograd_core(B, device, rng):
    x0, y0, w1_0, w2_0 = _elementwise_arrays(rng)
    lr, steps = 1e-2, 10
    x, y = B.tensor(x0, device=device), B.tensor(y0, device=device)
    w1 = B.tensor(w1_0, device=device, requires_grad=True)
    w2 = B.tensor(w2_0, device=device, requires_grad=True)
    x64, y64, m1, m2 = (B.to_numpy(t).astype(np.float64) for t in (x, y, w1, w2))
    for _ in range(steps):
        _, g1, g2 = _elementwise_grads(x64, y64, m1, m2)
        m1, m2 = m1 - lr * g1, m2 - lr * g2
        B.backward(_elementwise_loss(B, x, y)(w1, w2))
        for w in (w1, w2):
            B.sub_(w, B.grad(w) * lr)
            B.zero_(B.grad(w))
    assert_close(B, w1, m1, what=f"w1 after {steps} steps (autograd vs manual numpy)", relative_to="max")
    assert_close(B, w2, m2, what=f"w2 after {steps} steps (autograd vs manual numpy)", relative_to="max")


@claim("manual.training-equals-autograd")
@pytest.mark.workload(WORKLOAD)
@uses("matmul")
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


def _tensor_backprop(B, x, y, w1, w2):
    """004 § 1's second code block: the numpy backprop written with the engine's tensors."""
    h = B.matmul(x, w1)
    h_relu = B.relu(h)  # h.clamp(min=0)
    y_pred = B.matmul(h_relu, w2)
    loss = B.sum((y_pred - y) ** 2)
    grad_y_pred = (y_pred - y) * 2.0
    grad_w2 = B.matmul(B.transpose(h_relu), grad_y_pred)
    grad_h_relu = B.matmul(grad_y_pred, B.transpose(w2))
    grad_h = B.where(B.lt(h, 0), grad_h_relu * 0.0, grad_h_relu)  # grad_h[h < 0] = 0
    return loss, B.matmul(B.transpose(x), grad_h), grad_w2


def _two_layer_case(rng, case):
    """(x, y, w1, w2 as numpy arrays, lr): the seed's sizes (N, D_in, H, D_out = 64, 1000, 100, 10)
    and lr 1e-6, or random smaller sizes and lr 1e-4."""
    if case == "seed":
        return two_layer_arrays(rng, np.float64), 1e-6
    n, d_in, h, d_out = (int(v) for v in rng.integers(3, 40, 4))
    return [rng.standard_normal(s) for s in ((n, d_in), (n, d_out), (d_in, h), (h, d_out))], 1e-4


@claim("manual.tensor-backprop-equals-numpy")
@pytest.mark.workload(WORKLOAD)
@pytest.mark.parametrize("case", [pytest.param("seed", marks=pytest.mark.inputs("seed")),
                                  pytest.param("random", marks=pytest.mark.inputs("random"))])
def test_tensor_backprop_equals_numpy(B, device, rng, case):
    """At the seed's sizes (N, D_in, H, D_out = 64, 1000, 100, 10, lr 1e-6) and at random smaller
    ones; the gradients, then three gradient-descent steps w -= lr * grad, against numpy."""
    arrays, lr = _two_layer_case(rng, case)
    x, y, w1, w2 = (B.tensor(a, device=device) for a in arrays)
    x64, y64 = (B.to_numpy(t).astype(np.float64) for t in (x, y))
    for step in range(3):
        w1_64, w2_64 = (B.to_numpy(t).astype(np.float64) for t in (w1, w2))  # the engine's weights now
        loss, g1, g2 = _tensor_backprop(B, x, y, w1, w2)
        want_loss, want_g1, want_g2 = numpy_grads(x64, y64, w1_64, w2_64)
        assert_close(B, loss, want_loss, what=f"step {step}: loss")
        assert_close(B, g1, want_g1, what=f"step {step}: grad_w1 with the engine's tensors", relative_to="max")
        assert_close(B, g2, want_g2, what=f"step {step}: grad_w2 with the engine's tensors", relative_to="max")
        w1, w2 = w1 - g1 * lr, w2 - g2 * lr
        assert_close(B, w1, w1_64 - lr * want_g1, what=f"w1 after step {step + 1}", relative_to="max")
        assert_close(B, w2, w2_64 - lr * want_g2, what=f"w2 after step {step + 1}", relative_to="max")


@claim("manual.tensor-backprop-equals-numpy")
@pytest.mark.needs(Capability.IN_PLACE.value)
@pytest.mark.workload(WORKLOAD)
@pytest.mark.parametrize("case", [pytest.param("seed", marks=pytest.mark.inputs("seed")),
                                  pytest.param("random", marks=pytest.mark.inputs("random"))])
def test_tensor_backprop_as_written(B, device, rng, case):
    """004 § 1's torch block as written: grad_h = grad_h_relu.clone(); grad_h[h < 0] = 0, and the
    in-place updates w1 -= learning_rate * grad_w1; three steps against numpy. The clone is a
    copy: the mask assignment leaves grad_h_relu as it was."""
    arrays, lr = _two_layer_case(rng, case)
    x, y, w1, w2 = (B.tensor(a, device=device) for a in arrays)
    weights = (w1, w2)  # the tensors themselves: -= must change them in place
    x64, y64 = (B.to_numpy(t).astype(np.float64) for t in (x, y))
    for step in range(3):
        w1_64, w2_64 = (B.to_numpy(t).astype(np.float64) for t in (w1, w2))
        h = B.matmul(x, w1)
        h_relu = B.relu(h)  # h.clamp(min=0)
        y_pred = B.matmul(h_relu, w2)
        grad_y_pred = (y_pred - y) * 2.0
        grad_w2 = B.matmul(B.transpose(h_relu), grad_y_pred)
        grad_h_relu = B.matmul(grad_y_pred, B.transpose(w2))
        before = B.to_numpy(grad_h_relu).copy()
        grad_h = B.clone(grad_h_relu)
        B.mask_assign_(grad_h, B.lt(h, 0), 0.0)  # grad_h[h < 0] = 0
        np.testing.assert_array_equal(B.to_numpy(grad_h_relu), before,
                                      err_msg=f"step {step}: grad_h[h < 0] = 0 on the clone changed grad_h_relu")
        grad_w1 = B.matmul(B.transpose(x), grad_h)
        _, want_g1, want_g2 = numpy_grads(x64, y64, w1_64, w2_64)
        assert_close(B, grad_w1, want_g1, what=f"step {step}: grad_w1 through clone and mask assignment",
                     relative_to="max")
        assert_close(B, grad_w2, want_g2, what=f"step {step}: grad_w2", relative_to="max")
        w1 -= grad_w1 * lr
        w2 -= grad_w2 * lr
        for name, t, w, want in (("w1", weights[0], w1, w1_64 - lr * want_g1), ("w2", weights[1], w2, w2_64 - lr * want_g2)):
            assert t is w, f"step {step}: {name} -= lr * grad must update {name} in place, not make a new tensor"
            assert_close(B, t, want, what=f"{name} after step {step + 1}", relative_to="max")
