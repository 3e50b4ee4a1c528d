"""The numpy references the suites compare engines with, checked against the seeds' own printed
numbers and against plain arithmetic."""

import numpy as np

from autograd_conformance import models, references

# 003 § train mode (using AutoGrad) prints the losses of epochs 98 and 99, and § Linear Regression으로
# 찾은 parameter 조합 확인하기 the slope and bias after epoch 99's step.
SEED_LOSSES_98_99 = (0.1288181096315384, 0.1273796111345291)
SEED_W_B = (2.0956, 0.3361)


def test_linreg_dynamics_are_the_seeds_printed_numbers():
    factor, direction = references.linreg_dynamics(np.arange(11.0), lr=0.01)
    assert abs(SEED_LOSSES_98_99[1] / SEED_LOSSES_98_99[0] - factor) < 1e-6
    assert abs((SEED_W_B[0] - 2) / (SEED_W_B[1] - 1) - direction) < 1e-3  # printed to 4 decimals


def test_linreg_dynamics_hold_from_any_initialisation():
    x = np.arange(11.0)
    factor, direction = references.linreg_dynamics(x, lr=0.01)
    for w, b in np.random.default_rng(0).uniform(-3, 3, (5, 2)):
        losses = []
        for _ in range(100):
            r = w * x + b - (2 * x + 1)
            losses.append(np.mean(r * r))
            w, b = w - 0.01 * np.mean(2 * r * x), b - 0.01 * np.mean(2 * r)
        assert abs(losses[-1] / losses[-2] - factor) < 1e-9
        assert abs((w - 2) / (b - 1) - direction) < 1e-9


def test_numpy_two_layer_loop_learns_over_the_seeds_steps():
    """004 § 1's numpy loop, at its sizes, rate and 500 steps: the losses printed every 100 steps
    fall, and the last is a millionth of the first (the hand-written backprop is a gradient; the
    first steps may overshoot)."""
    x, y, w1, w2 = models.two_layer_arrays(np.random.default_rng(0))
    losses = []
    for _ in range(500):
        loss, g1, g2 = references.numpy_two_layer_grads(x, y, w1, w2)
        losses.append(loss)
        w1, w2 = w1 - 1e-6 * g1, w2 - 1e-6 * g2
    printed = losses[99::100]  # what the torch version prints (t % 100 == 99)
    assert all(b < a for a, b in zip(printed, printed[1:])), f"the printed losses must fall: {printed}"
    assert losses[-1] < 1e-6 * losses[0], f"500 steps: {losses[0]:.4g} -> {losses[-1]:.4g}"
