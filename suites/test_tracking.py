"""Stopping and starting gradient tracking: requires_grad, requires_grad_, no_grad, detach, .data."""

import numpy as np
import pytest

from autograd_conformance.check import assert_close
from autograd_conformance.protocol import Capability

claim = pytest.mark.claim


@claim("tracking.default-untracked")
def test_default_untracked(B, device, rng):
    a = B.tensor(rng.standard_normal((2, 2)), device=device)
    assert not B.requires_grad(a), "a new tensor must not require grad by default"
    assert not B.requires_grad((a * 3) / (a - 1)), "results of untracked tensors must be untracked"


@claim("tracking.requires-grad-in-place")
def test_requires_grad_in_place(B, device, rng):
    values = rng.standard_normal((2, 2))
    a = B.tensor(values, device=device)
    returned = B.set_requires_grad(a, True)
    assert returned is a, "requires_grad_ must act on the same tensor object"
    assert B.requires_grad(a), "requires_grad_(True) must switch tracking on"
    assert_close(B, a, values, what="values after requires_grad_(True)")


@claim("tracking.result-of-tracked-is-tracked")
def test_result_of_tracked_is_tracked(B, device, rng):
    x = B.tensor(rng.standard_normal(3), device=device, requires_grad=True)
    assert B.requires_grad(x ** 2), "(x ** 2).requires_grad must be True for a tracked x"


def _linear_z(B, device):
    rng = np.random.default_rng(0)  # its own: no test order or plugin changes it
    x = B.tensor(np.ones(5), device=device, requires_grad=False)
    w = B.tensor(rng.standard_normal((5, 3)), device=device, requires_grad=True)
    b = B.tensor(rng.standard_normal(3), device=device, requires_grad=True)
    return x, w, b


@claim("tracking.no-grad-untracked")
def test_no_grad_untracked(B, device):
    x, w, b = _linear_z(B, device)
    assert B.requires_grad(B.matmul(x, w) + b), "outside no_grad, z = B.matmul(x, w) + b is tracked"
    with B.no_grad():
        z = B.matmul(x, w) + b
        squared = w ** 2
    assert not B.requires_grad(z), "inside no_grad, z must not require grad"
    assert not B.requires_grad(squared), "inside no_grad, w ** 2 must not require grad"
    if Capability.GRAPH_NODES in B.capabilities:
        assert B.grad_fn(z) is None, "inside no_grad, no graph node is recorded"
    assert B.requires_grad(B.matmul(x, w) + b), "tracking resumes after the no_grad block"


@claim("tracking.no-grad-same-values")
def test_no_grad_same_values(B, device):
    x, w, b = _linear_z(B, device)
    tracked = B.to_numpy(B.matmul(x, w) + b)
    with B.no_grad():
        untracked = B.to_numpy(B.matmul(x, w) + b)
    np.testing.assert_array_equal(untracked, tracked, err_msg="no_grad must not change values")


@claim("tracking.detach-untracked-equal")
def test_detach_untracked_equal(B, device, rng):
    x0 = rng.standard_normal(3)
    x = B.tensor(x0, device=device, requires_grad=True)
    y = B.detach(x)
    if Capability.REQUIRES_GRAD in B.capabilities:
        assert B.requires_grad(x), "detach must leave the original tracked"
        assert not B.requires_grad(y), "the detached tensor must not require grad"
    np.testing.assert_array_equal(B.to_numpy(y), B.to_numpy(x), err_msg="x.eq(x.detach()).all()")
    # untracked, observed through differentiation: f(x) = x * detach(x) has derivative detach(x)
    _, (dx,) = B.vjp(lambda x: B.sum(x * B.detach(x)), [B.tensor(x0, device=device)])
    assert_close(B, dx, B.to_numpy(x), what="d/dx sum(x * detach(x)): detach(x) is a constant")


@claim("tracking.detach-shares-storage")
def test_detach_shares_storage(B, device):
    x = B.tensor(np.ones(3), device=device, requires_grad=True)
    y = B.detach(x)
    B.sub_(y, B.tensor(np.full(3, 0.5), device=device))
    assert_close(B, x, np.full(3, 0.5), what="the original after an in-place change to its detached view")


@claim("tracking.data-shares-storage-untracked")
def test_data_shares_storage_untracked(B, device):
    w = B.tensor(np.ones((2, 2)), device=device, requires_grad=True)
    has_nodes = Capability.GRAPH_NODES in B.capabilities
    node_before = B.grad_fn(w) if has_nodes else None
    name_before = None if node_before is None else B.node_name(node_before)
    alias = B.data(w)
    assert not B.requires_grad(alias), ".data must not track history"
    B.sub_(alias, B.tensor(np.full((2, 2), 0.25), device=device))
    assert_close(B, w, np.full((2, 2), 0.75), what="w after w.data -= 0.25")
    assert B.requires_grad(w), "w stays tracked after an update through .data"
    if has_nodes:
        node_after = B.grad_fn(w)
        name_after = None if node_after is None else B.node_name(node_after)
        assert name_after == name_before, "an update through .data must not add a graph node"


@claim("tracking.frozen-parameter-no-grad")
def test_frozen_parameter_no_grad(B, device):
    x, w, b = _linear_z(B, device)
    B.set_requires_grad(b, False)  # freeze the bias
    B.backward(B.sum(B.relu(B.matmul(x, w) + b)))
    assert B.grad(b) is None, "a frozen parameter must get no gradient"
    assert B.grad(w) is not None, "the trainable parameter still gets its gradient"
