"""Graph recording: which results carry a graph node, and what PyTorch calls those nodes."""

import numpy as np
import pytest

from autograd_conformance.protocol import Capability

claim = pytest.mark.claim


@claim("graph.leaf-has-no-node")
@pytest.mark.optional('requires_grad')
def test_leaf_has_no_node(B, device):
    x = B.tensor(np.ones((2, 2)), device=device, requires_grad=True)
    if Capability.REQUIRES_GRAD in B.capabilities:
        assert B.requires_grad(x), "a tensor created with requires_grad=True must record operations"
    assert B.grad_fn(x) is None, "a created tensor is a leaf: expected no graph node"
    assert B.grad_fn(x * 2) is not None, "it records operations: x * 2 has a node"


def _same_node(a, b) -> bool:
    """The same node: the same object, or equal by the node type's own == (a plain bool)."""
    if a is b:
        return True
    equal = a == b
    return equal if isinstance(equal, bool) else False


@claim("graph.result-has-node")
def test_result_has_node_leading_back(B, device):
    x = B.tensor(np.ones((2, 2)), device=device, requires_grad=True)
    y = x + 2
    node = B.grad_fn(y)
    assert node is not None, "y = x + 2 on a tracked x must carry a graph node"
    assert B.node_inputs(node), "the node of x + 2 must lead back to its input"
    np.testing.assert_array_equal(B.to_numpy(y), np.full((2, 2), 3.0))


@claim("graph.result-has-node")
def test_result_node_leads_to_input_node(B, device, rng):
    """Where the input x is itself a result (x = a * 3), the node of y = x + 2 leads to x's own node,
    and on through it to a: the node's inputs are its operands' nodes, not just any nodes."""
    a = B.tensor(rng.standard_normal((2, 2)), device=device, requires_grad=True)
    x = a * 3
    y = x + 2
    x_node, y_node = B.grad_fn(x), B.grad_fn(y)
    assert x_node is not None and y_node is not None, "x = a * 3 and y = x + 2 must carry nodes"
    assert any(_same_node(n, x_node) for n in B.node_inputs(y_node)), \
        "the node of y = x + 2 must lead back to the node of x"
    assert not any(_same_node(n, y_node) for n in B.node_inputs(x_node)), "x's node must not lead to y's"


@claim("graph.untracked-input-has-no-node")
def test_untracked_input_has_no_node_functional(B, device, rng):
    """The same with the engine's reshape as the flatten and a parameter leaf as the first layer."""
    x = B.tensor(rng.random((4, 1, 28, 28)), device=device, requires_grad=False)
    w = B.tensor(rng.standard_normal((28 * 28, 8)), device=device, requires_grad=True)
    flat = B.reshape(x, (4, 28 * 28))
    assert B.grad_fn(x) is None, "an input that does not require grad has no node"
    assert B.grad_fn(flat) is None, "reshaping an untracked input must not create a node"
    assert B.grad_fn(B.matmul(flat, w)) is not None, "the first operation with a parameter creates a node"


@claim("graph.untracked-input-has-no-node")
@pytest.mark.needs(Capability.MODULES.value)
def test_untracked_input_has_no_node(B, device, rng):
    flatten, linear = B.flatten_layer(), B.linear(28 * 28, 8, device=device)
    x = B.tensor(rng.random((4, 1, 28, 28)), device=device, requires_grad=False)
    flat = flatten(x)
    assert B.grad_fn(x) is None, "an input that does not require grad has no node"
    assert B.grad_fn(flat) is None, "flattening an untracked input must not create a node"
    assert B.grad_fn(linear(flat)) is not None, "the first layer with parameters creates a node"


@claim("graph.tracked-after-requires-grad")
def test_tracked_after_requires_grad(B, device, rng):
    a = B.tensor(rng.standard_normal((2, 2)), device=device, requires_grad=False)
    a = (a * 3) / (a - 1)
    assert B.grad_fn(B.sum(a * a)) is None, "before requires_grad_, nothing is recorded"
    B.set_requires_grad(a, True)
    assert B.grad_fn(B.sum(a * a)) is not None, "after requires_grad_(True), (a*a).sum() has a node"


def _names(B, *tensors):
    return [B.node_name(B.grad_fn(t)) for t in tensors]


@claim("graph.basic-node-names")
def test_basic_node_names(B, device):
    x = B.tensor(np.ones((2, 2)), device=device, requires_grad=True)
    y = x + 2
    z = y * y * 3
    assert _names(B, y, z, B.mean(z), B.sum(x * x)) == [
        "AddBackward0", "MulBackward0", "MeanBackward0", "SumBackward0"]


@claim("graph.layer-node-names")
def test_layer_node_names(B, device, rng):
    linear, relu = B.linear(784, 16, device=device), B.relu_layer()
    h = linear(B.tensor(rng.random((2, 784)), device=device))
    assert _names(B, h, relu(h)) == ["AddmmBackward0", "ReluBackward0"]


@claim("graph.loss-node-names")
def test_loss_node_names(B, device, rng):
    x = B.tensor(np.ones(5), device=device)
    w = B.tensor(rng.standard_normal((5, 3)), device=device, requires_grad=True)
    b = B.tensor(rng.standard_normal(3), device=device, requires_grad=True)
    z = B.matmul(x, w) + b
    loss = B.bce_with_logits(z, B.tensor(np.zeros(3), device=device))
    mse = B.mse_loss(z, B.tensor(np.zeros(3), device=device))
    assert _names(B, z, loss, mse) == [
        "AddBackward0", "BinaryCrossEntropyWithLogitsBackward0", "MseLossBackward0"]


@claim("graph.next-functions-chain")
def test_next_functions_chain(B, device, rng):
    fc2, fc3 = B.linear(4, 4, device=device), B.linear(4, 10, device=device)
    out = fc3(B.relu(fc2(B.tensor(rng.random((1, 4)), device=device))))
    loss = B.mse_loss(out, B.tensor(rng.random((1, 10)), device=device))
    node = B.grad_fn(loss)
    chain = [B.node_name(node)]
    for _ in range(2):
        node = B.node_inputs(node)[0]
        chain.append(B.node_name(node))
    assert chain == ["MseLossBackward0", "AddmmBackward0", "AccumulateGrad"]
    _, bias = B.linear_parameters(fc3)
    assert node.variable is bias, "the AccumulateGrad reached is fc3's bias's (next_functions[0] of addmm)"
