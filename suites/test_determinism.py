"""Determinism: seeding the engine's generators reproduces initialisation and training exactly."""

import numpy as np
import pytest

from autograd_conformance import gradients

claim = pytest.mark.claim
uses = pytest.mark.uses

GOLDEN_GRAD_B = [0.1083, 0.0369, 0.0726]  # 002 In [77], printed to 4 decimals
GOLDEN_GRAD_B_TWICE = [0.2166, 0.0739, 0.1452]  # 002 In [79] (two passes) and In [81] (grad * 2)


def _seeded_run(B, device, seed, build, loss):
    """Seed, build a model (the engine initialises it; its values are read at once, so an engine
    that computes lazily has made them), take 5 SGD-with-momentum steps; return the parameters right
    after initialisation and after training."""
    B.seed(seed)
    model = build()
    params = [p for _, p in B.named_parameters(model)]
    initial = [np.array(B.to_numpy(p), copy=True) for p in params]
    opt = B.sgd(model, lr=0.1, momentum=0.9)
    for _ in range(5):
        gradients.train_step(B, opt, model, lambda: loss(model))
    return initial, [np.array(B.to_numpy(p), copy=True) for _, p in B.named_parameters(model)]


def _check_same_seed_same_training(B, device, build, loss):
    init_a, trained_a = _seeded_run(B, device, 1234, build, loss)
    init_b, trained_b = _seeded_run(B, device, 1234, build, loss)
    assert init_a, "the model must own parameters"
    for k, (a, b) in enumerate(zip(init_a, init_b)):
        np.testing.assert_array_equal(b, a, err_msg=f"parameter {k} right after initialisation: "
                                                    "the same seed must give bit-identical weights")
    for k, (a, b) in enumerate(zip(trained_a, trained_b)):
        np.testing.assert_array_equal(b, a, err_msg=f"parameter {k} after 5 training steps: "
                                                    "the same seed must give bit-identical weights")


@claim("determinism.same-seed-same-training")
@pytest.mark.workload(16 * (28 * 28 * 64 + 64 * 10))
@uses("flatten_layer", "linear", "relu_layer", "cross_entropy")
def test_same_seed_same_training(B, device, rng):
    """002 In [77] and In [300]: an MLP on images with cross-entropy."""
    x = B.tensor(rng.random((16, 1, 28, 28)), device=device)
    labels = B.tensor(rng.integers(0, 10, size=16).astype(np.int64), device=device)

    def build():
        return B.sequential(B.flatten_layer(), B.linear(28 * 28, 64, device=device), B.relu_layer(),
                            B.linear(64, 10, device=device))

    _check_same_seed_same_training(B, device, build, lambda model: B.cross_entropy(model(x), labels))


@claim("determinism.same-seed-same-training")
@uses("linear")
def test_same_seed_same_training_core(B, device, rng):
    """One Linear layer (the engine's initialisation) and a squared error in the core vocabulary."""
    x = B.tensor(rng.standard_normal((8, 10)), device=device)
    y = B.tensor(rng.standard_normal((8, 4)), device=device)

    def build():
        return B.linear(10, 4, device=device)

    _check_same_seed_same_training(B, device, build, lambda model: B.sum((model(x) - y) ** 2) / 32.0)


@claim("determinism.manual-seed-1-golden")
@uses("matmul", "bce_with_logits")
@pytest.mark.parametrize("passes", [1, pytest.param(2, marks=pytest.mark.needs("repeat_backward"))])
def test_manual_seed_1_golden(B, device, passes):
    """002 In [77]: manual_seed(1); w = randn(5, 3); b = randn(3); BCE-with-logits of ones(5) @ w + b
    against zeros(3). The draws are torch's CPU generator's (the claim is about it); the graph is
    built on `device` through the backend."""
    import torch

    B.seed(1)  # torch.manual_seed(1) for a backend that speaks PyTorch's API
    w0, b0 = torch.randn(5, 3), torch.randn(3)
    w = B.tensor(w0.numpy(), device=device, requires_grad=True)
    b = B.tensor(b0.numpy(), device=device, requires_grad=True)
    x = B.tensor(np.ones(5), device=device)
    loss = B.bce_with_logits(B.matmul(x, w) + b, B.tensor(np.zeros(3), device=device))
    for i in range(passes):  # In [79]: loss.backward(retain_graph=True); loss.backward()
        B.backward(loss, retain_graph=i < passes - 1)
    golden = GOLDEN_GRAD_B if passes == 1 else GOLDEN_GRAD_B_TWICE
    grad_b, grad_w = B.to_numpy(B.grad(b)), B.to_numpy(B.grad(w))
    # the seed prints 4 decimals: within half a unit of the last one (plus float32 rounding)
    np.testing.assert_allclose(grad_b, golden, rtol=0, atol=5.1e-5,
                               err_msg=f"dL/db after {passes} backward pass(es) must round to the seed's {golden}")
    np.testing.assert_allclose(grad_w, np.tile(golden, (5, 1)), rtol=0, atol=5.1e-5,
                               err_msg=f"every row of dL/dw after {passes} pass(es) must round to the seed's {golden}")
