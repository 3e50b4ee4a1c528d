"""Stopping and starting gradient tracking: requires_grad, requires_grad_, no_grad, detach, .data."""

import numpy as np
import pytest

from autograd_conformance.assertions import assert_close, assert_engine_refuses
from autograd_conformance.protocol import Capability

claim = pytest.mark.claim
uses = pytest.mark.uses
# 002 In [18]'s z = x @ w + b (matmul declared), and the same affine map elementwise (core)
FORMS = [pytest.param("matmul", marks=uses("matmul")), pytest.param("core")]


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


def _linear_z(B, device, form="matmul"):
    """002 In [18]: x = ones(5) untracked, w (5, 3) and b (3,) tracked, and z(x, w, b); in the core
    form x, w and b are vectors of 3 and z = x w + b elementwise."""
    rng = np.random.default_rng(0)  # its own: no test order or plugin changes it
    core = form == "core"
    x = B.tensor(rng.standard_normal(3) * 2 if core else np.ones(5), device=device, requires_grad=False)
    w = B.tensor(rng.standard_normal(3 if core else (5, 3)), device=device, requires_grad=True)
    b = B.tensor(rng.standard_normal(3), device=device, requires_grad=True)
    return x, w, b, (lambda: x * w + b) if core else (lambda: B.matmul(x, w) + b)


@claim("tracking.no-grad-untracked")
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.optional('graph_nodes')
def test_no_grad_untracked(B, device, form):
    x, w, b, z_of = _linear_z(B, device, form)
    assert B.requires_grad(z_of()), "outside no_grad, z = x @ w + b is tracked"
    with B.no_grad():
        z = z_of()
        squared = w ** 2
    assert not B.requires_grad(z), "inside no_grad, z must not require grad"
    assert not B.requires_grad(squared), "inside no_grad, w ** 2 must not require grad"
    if Capability.GRAPH_NODES in B.capabilities:
        assert B.grad_fn(z) is None, "inside no_grad, no graph node is recorded"
    assert B.requires_grad(z_of()), "tracking resumes after the no_grad block"


class _LeavesTheBlock(Exception):
    pass


@claim("tracking.no-grad-ends-with-its-block")
@pytest.mark.parametrize("end", ["normally", "by an exception"])
def test_no_grad_ends_with_its_block(B, device, rng, end):
    """001 In [31]-[36] (the second In [31] and In [32]): x ** 2 tracked, untracked inside no_grad,
    x still tracked after; here the result of an operation after the block, which ended `end`."""
    x = B.tensor(rng.standard_normal(3), device=device, requires_grad=True)
    try:
        with B.no_grad():
            x * x
            if end == "by an exception":
                raise _LeavesTheBlock
    except _LeavesTheBlock:
        pass
    assert B.requires_grad(x * x), f"after a no_grad block that ended {end}, x * x must be tracked again"


@claim("tracking.no-grad-same-values")
@pytest.mark.parametrize("form", FORMS)
def test_no_grad_same_values(B, device, form):
    x, w, b, z_of = _linear_z(B, device, form)
    tracked = B.to_numpy(z_of())
    with B.no_grad():
        untracked = B.to_numpy(z_of())
    np.testing.assert_array_equal(untracked, tracked, err_msg="no_grad must not change values")


@claim("tracking.detach-untracked-equal")
@pytest.mark.optional('requires_grad')
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
@pytest.mark.optional('graph_nodes')
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
@pytest.mark.needs(Capability.SET_REQUIRES_GRAD.value)
@pytest.mark.parametrize("form", FORMS)
def test_frozen_parameter_no_grad(B, device, form):
    """002 § Gradient tracking 멈추기: requires_grad switched off on an existing parameter."""
    x, w, b, z_of = _linear_z(B, device, form)
    B.set_requires_grad(b, False)  # freeze the bias
    B.backward(B.sum(z_of() ** 2))
    assert B.grad(b) is None, "a frozen parameter must get no gradient"
    assert B.grad(w) is not None, "the trainable parameter still gets its gradient"


@claim("tracking.frozen-parameter-no-grad")
@pytest.mark.needs(Capability.REQUIRES_GRAD.value)
def test_parameter_created_frozen_no_grad(B, device, rng):
    """The same with the flag given when the parameter is made (an engine may set it per tensor at
    creation without switching it later): only the tracked leaf gets a gradient."""
    x = B.tensor(rng.standard_normal(3) * 2, device=device)
    w = B.tensor(rng.standard_normal(3), device=device, requires_grad=True)
    b = B.tensor(rng.standard_normal(3), device=device, requires_grad=False)
    B.backward(B.sum((x * w + b) ** 2))
    assert B.grad(b) is None, "a parameter made without requires_grad must get no gradient"
    assert B.grad(w) is not None, "the trainable parameter still gets its gradient"


@claim("tracking.data-shares-storage-untracked")
@pytest.mark.optional('graph_nodes', 'backward')
def test_data_update_recorded_adds_no_node(B, device, rng):
    """The update through .data done with the engine's own in-place operator outside no_grad (the
    adapter's sub_ runs under no_grad, which would add no node anyway): w stays a leaf, still
    tracked, and a later backward sees the new values. Recorded on a tracked result, the same
    operator does add a node (so the check can see one)."""
    w0 = rng.standard_normal((2, 2))
    w = B.tensor(w0, device=device, requires_grad=True)
    has_nodes = Capability.GRAPH_NODES in B.capabilities
    name_before = _node_name(B, w) if has_nodes else None  # None in torch: w is a leaf
    alias = B.data(w)
    delta = B.tensor(np.full((2, 2), 0.25), device=device)
    B.sub_recorded(alias, delta)
    assert_close(B, w, B.to_numpy(B.tensor(w0, device=device)).astype(np.float64) - 0.25,
                 what="w after w.data.sub_(0.25) outside no_grad")
    assert B.requires_grad(w), "w stays tracked after an update through .data"
    if has_nodes:
        assert _node_name(B, w) == name_before, "an update through .data must not add a node to w"
        y = w * 1
        B.sub_recorded(y, delta)
        assert B.grad_fn(y) is not None, "an in-place change of a tracked result is recorded"
    if Capability.STORES_GRADIENTS in B.capabilities:
        B.backward(B.sum(w * w))
        assert_close(B, B.grad(w), 2 * B.to_numpy(w).astype(np.float64), what="w.grad = 2 w at the new values")


def _node_name(B, t):
    node = B.grad_fn(t)
    return None if node is None else B.node_name(node)


@claim("tracking.in-place-on-tracked-leaf-errors")
@pytest.mark.optional('no_grad')
def test_in_place_on_tracked_leaf_errors(B, device, rng):
    """004 § 3: the manual update w -= lr * w.grad must be wrapped in no_grad because w requires grad."""
    w0 = rng.standard_normal(3)
    w = B.tensor(w0, device=device, requires_grad=True)
    held = B.to_numpy(w).copy()
    delta = B.tensor(np.full(3, 0.5), device=device)
    assert_engine_refuses(lambda: B.sub_recorded(w, delta), "w -= delta on a leaf that requires grad, outside no_grad")
    np.testing.assert_array_equal(B.to_numpy(w), held, err_msg="the refused in-place change must leave w as it was")
    plain = B.tensor(w0, device=device, requires_grad=False)
    B.sub_recorded(plain, delta)  # allowed: nothing is tracked
    assert_close(B, plain, held.astype(np.float64) - 0.5, what="an untracked leaf after t -= delta")
    if Capability.NO_GRAD in B.capabilities:  # 004 § 3: the same update inside no_grad is allowed
        with B.no_grad():
            B.sub_recorded(w, delta)
        assert_close(B, w, held.astype(np.float64) - 0.5, what="w after w -= 0.5 under no_grad")
        assert B.requires_grad(w), "w stays tracked after an update under no_grad"


@claim("tracking.printed-form-shows-tracking")
def test_printed_form_shows_tracking(B, device):
    """001 In [2] prints a tracked leaf with requires_grad=True, In [3] x + 2 with
    grad_fn=<AddBackward0>, In [14] y * y * 3 with grad_fn=<MulBackward0>."""
    x = B.tensor(np.ones((2, 2)), device=device, requires_grad=True)
    assert "requires_grad=True" in repr(x), f"a tracked leaf must print requires_grad=True, got {x!r}"
    y = x + 2.0
    assert "grad_fn=<AddBackward0>" in repr(y), f"x + 2 must print grad_fn=<AddBackward0>, got {y!r}"
    z = y * y * 3.0
    assert "grad_fn=<MulBackward0>" in repr(z), f"y * y * 3 must print grad_fn=<MulBackward0>, got {z!r}"
    plain = B.tensor(np.ones((2, 2)), device=device, requires_grad=False)
    with B.no_grad():
        untracked = x + 2.0
    for what, t in (("an untracked tensor", plain), ("x + 2 under no_grad", untracked)):
        assert "requires_grad" not in repr(t) and "grad_fn" not in repr(t), \
            f"{what} must print no tracking state, got {t!r}"


@claim("tracking.variable-returns-tensor")
@uses("linear")
def test_variable_returns_tensor(B, device, rng):
    """003: inputs = Variable(torch.from_numpy(x_train)); model(inputs)."""
    x0 = np.arange(11, dtype=np.float32).reshape(-1, 1)
    t = B.tensor(x0, device=device)
    v = B.variable(t)
    assert type(v) is type(t), f"Variable(t) must return the plain tensor type {type(t).__name__}, got {type(v)}"
    np.testing.assert_array_equal(B.to_numpy(v), x0, err_msg="Variable(t) keeps t's values")
    assert not B.requires_grad(v), "Variable(t) of an input does not require grad"
    model = B.linear(1, 1, device=device)
    assert_close(B, model(v), model(t), what="a Linear layer on Variable(x) vs on x")
