"""retain_graph and freed graphs: when a second backward errors, and when it may run.

On an engine whose gradients are stored (Capability.STORES_GRADIENTS) a backward is ``B.backward(out)``; on
one whose gradients a tape computes, it is a call of the pullback that ``B.record`` returns (a
TensorFlow GradientTape: non-persistent by default, persistent with retain_graph=True). Each claim is
checked on 002's BCE graph (``ones(5) @ w + b``: matmul and BCE declared) and on a graph in the core
vocabulary whose nodes save tensors too (``sum((x * w + b) ** 2)``)."""

import numpy as np
import pytest

from autograd_conformance.assertions import assert_close, assert_engine_refuses
from autograd_conformance.protocol import Capability

claim = pytest.mark.claim
GRAPHS = [pytest.param("bce", marks=pytest.mark.uses("matmul", "bce_with_logits")), pytest.param("core")]


def _bce_parts(B, device, graph="bce"):
    """002 In [8]: z = x @ w + b and a BCE-with-logits loss; or, in the core vocabulary, z = x w + b
    elementwise and a squared error. The nodes of both save tensors for backward."""
    rng = np.random.default_rng(0)  # its own: no test order or plugin changes it
    if graph == "core":
        x, y = (B.tensor(rng.standard_normal(3) * 2, device=device) for _ in range(2))
        w = B.tensor(rng.standard_normal(3), device=device, requires_grad=True)
        b = B.tensor(rng.standard_normal(3), device=device, requires_grad=True)
        return (lambda w, b: B.sum((x * w + b - y) ** 2)), w, b
    x, y = B.tensor(np.ones(5), device=device), B.tensor(np.zeros(3), device=device)
    w = B.tensor(rng.standard_normal((5, 3)), device=device, requires_grad=True)
    b = B.tensor(rng.standard_normal(3), device=device, requires_grad=True)
    return (lambda w, b: B.bce_with_logits(B.matmul(x, w) + b, y)), w, b


def _bce_loss(B, device, graph="bce"):
    loss, w, b = _bce_parts(B, device, graph)
    return loss(w, b), w, b


def _stores_grads(B) -> bool:
    return Capability.STORES_GRADIENTS in B.capabilities


@claim("retain.second-backward-errors")
@pytest.mark.parametrize("graph", GRAPHS)
def test_second_backward_errors(B, device, graph):
    if not _stores_grads(B):
        loss, w, b = _bce_parts(B, device, graph)
        _, pullback = B.record(loss, [w, b])
        pullback()
        assert_engine_refuses(pullback, "a second pullback through the freed recording")
        return
    loss, w, b = _bce_loss(B, device, graph)
    before = [B.to_numpy(t).copy() for t in (loss, w, b)]
    B.backward(loss)
    grad_b = B.to_numpy(B.grad(b)).copy()
    assert_engine_refuses(lambda: B.backward(loss), "a second backward through the freed graph")
    # backward freed what the graph saved, not the program's tensors (002 says it deletes them)
    for name, t, old in zip(("loss", "w", "b"), (loss, w, b), before):
        np.testing.assert_array_equal(B.to_numpy(t), old, err_msg=f"{name} must still hold its values")
    assert_close(B, B.grad(b), grad_b, what="b.grad after the refused second backward (unchanged)")


@claim("retain.error-names-retain-graph")
@pytest.mark.parametrize("graph", GRAPHS)
def test_error_names_retain_graph(B, device, graph):
    loss, _, _ = _bce_loss(B, device, graph)
    B.backward(loss)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        B.backward(loss)


@claim("retain.retain-graph-allows-second")
@pytest.mark.parametrize("graph", GRAPHS)
def test_retain_graph_allows_second(B, device, graph):
    if not _stores_grads(B):
        loss, w, b = _bce_parts(B, device, graph)
        _, pullback = B.record(loss, [w, b], retain_graph=True)
        first = [B.to_numpy(g).copy() for g in pullback()]
        second = pullback()  # must not raise
        for name, g, g0 in zip(("w", "b"), second, first):
            assert_close(B, g, g0, what=f"d loss / d {name} from the retained recording's second pullback")
        return
    loss, w, b = _bce_loss(B, device, graph)
    B.backward(loss, retain_graph=True)
    once = B.to_numpy(B.grad(b)).copy()
    B.backward(loss)  # must not raise
    assert_close(B, B.grad(b), 2 * once, what="b.grad after the retained second backward")


@claim("retain.second-backward-without-saved-tensors")
def test_second_backward_without_saved_tensors(B, device):
    x = B.tensor(np.ones(3), device=device, requires_grad=True)
    y = B.sum(x + 2)  # AddBackward0 and SumBackward0 save no tensors
    B.backward(y)
    B.backward(y)  # no retain_graph, and still no error
    assert_close(B, B.grad(x), np.full(3, 2.0), what="x.grad after two passes through (x + 2).sum()")


@claim("retain.doubling-graph-vjp-twice-errors")
def test_doubling_graph_vjp_twice_errors(B, device):
    x = B.tensor([0.1111, 1.6964, 0.8650], device=device, requires_grad=True)
    y = x * 2
    for _ in range(9):
        y = y * 2
    v = B.tensor([0.1, 1.0, 0.0001], device=device)
    B.backward(y, v)
    with pytest.raises(RuntimeError, match="second time"):
        B.backward(y, v)


@claim("retain.functional-grad-frees-graph")
@pytest.mark.parametrize("graph", GRAPHS)
def test_functional_grad_frees_graph(B, device, graph):
    """002 In [5]: the error says saved values are freed by .backward() or autograd.grad(): the
    engine's functional gradient call is record's pullback."""
    loss, w, b = _bce_parts(B, device, graph)
    _, pullback = B.record(loss, [w, b])
    first = [B.to_numpy(g).copy() for g in pullback()]
    assert_engine_refuses(pullback, "a second autograd.grad through the graph the first call freed")
    _, pullback = B.record(loss, [w, b], retain_graph=True)
    kept = [B.to_numpy(g).copy() for g in pullback()]
    again = pullback()  # must not raise
    for name, g0, g1, g2 in zip(("w", "b"), first, kept, again):
        assert_close(B, g1, g0, what=f"d loss / d {name} with retain_graph=True vs without")
        assert_close(B, g2, g0, what=f"d loss / d {name} from the retained graph's second call")
