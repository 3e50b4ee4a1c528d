"""004 § 8: DynamicNet (its middle layer reused a random 0 to 3 times in each forward) trained with
MSELoss(reduction='sum') and SGD(lr 1e-4, momentum 0.9), at the seed's sizes, against the same
training written in numpy: backprop by hand (references.numpy_dynamic_grads) and the momentum rule.
The core form is DynamicNet's structure elementwise (references.numpy_elementwise_dynamic_grads)
with a summed squared error. Gradients are kept where the engine keeps them between backward and
step: on the parameters, or in the optimizer (gradients.KeptGradients)."""

import numpy as np
import pytest

from autograd_conformance import references
from autograd_conformance.check import assert_close, linear_values
from autograd_conformance.gradients import KeptGradients
from autograd_conformance.models import D_IN, D_OUT, H, N

claim = pytest.mark.claim

STEPS = 10
WORKLOAD = N * (D_IN * H + 3 * H * H + H * D_OUT)
ORDER = ["input_linear", "middle_linear", "output_linear"]


def _dynamic_net(B, device):
    """004 § 8's DynamicNet; depth["uses"] sets how often the next forward reuses the middle layer
    (the seed draws it in forward; the module is called with tensors only). Returns the module, a
    function that reads its six weights by role (w_in, b_in, w_mid, ...; W as (n_in, n_out)), and
    the same six parameter objects."""
    depth = {"uses": 0}
    layers = {"input_linear": B.linear(D_IN, H, device=device), "middle_linear": B.linear(H, H, device=device),
              "output_linear": B.linear(H, D_OUT, device=device)}

    def forward(m, x):
        h = B.relu(m.input_linear(x))
        for _ in range(depth["uses"]):
            h = B.relu(m.middle_linear(h))
        return m.output_linear(h)

    def weights():
        return [v for name in ORDER for v in linear_values(B, layers[name])]

    params = [p for name in ORDER for p in B.linear_parameters(layers[name])]
    return B.module(forward, **layers), weights, params, depth


def _elementwise_net(B, device, rng):
    """DynamicNet's structure in the core vocabulary: every layer h <- h w + b elementwise."""
    depth = {"uses": 0}
    names = ["w_in", "b_in", "w_mid", "b_mid", "w_out", "b_out"]
    params = {n: B.parameter(B.tensor(rng.standard_normal(H) * 0.5, device=device)) for n in names}

    def forward(m, x):
        h = x * m.w_in + m.b_in
        for _ in range(depth["uses"]):
            h = h * m.w_mid + m.b_mid
        return h * m.w_out + m.b_out

    def weights():
        return [np.asarray(B.to_numpy(params[n]), dtype=np.float64) for n in names]

    return B.module(forward, **params), weights, [params[n] for n in names], depth


def _check_momentum_training(B, model, weights, params, depth, x, y, loss_fn, reference, lr, momentum, rng):
    x64, y64 = (B.to_numpy(t).astype(np.float64) for t in (x, y))
    opt = B.sgd([p for _, p in B.named_parameters(model)], lr=lr, momentum=momentum)
    kept = KeptGradients(B, [p for _, p in B.named_parameters(model)], opt)
    buffers, losses = None, []
    for step in range(STEPS):
        depth["uses"] = int(rng.integers(0, 4))  # random.randint(0, 3)
        # numpy's step from the weights the engine holds now (read by role): each step is checked on
        # its own, so float32 rounding does not pile up along a trajectory that has ReLU kinks
        before = weights()
        loss = loss_fn()
        losses.append(float(np.asarray(B.to_numpy(loss), dtype=np.float64).reshape(())))
        kept.zero()
        kept.backward(loss)
        # zero_grad() sets gradients to None in torch >= 2.0, and a forward that skips the middle
        # layer leaves its gradient None: SGD then skips that layer (its momentum does not carry);
        # an engine that zeroes gradients instead steps it with its momentum. Follow the engine.
        stepped = [kept.grad(p) is not None for p in params]
        kept.step()
        grads = reference(x64, y64, depth["uses"], *before)
        if buffers is None:
            buffers = [g if on else None for g, on in zip(grads, stepped)]
        else:
            buffers = [(g if b is None else momentum * b + g) if on else b
                       for b, g, on in zip(buffers, grads, stepped)]
        after = weights()
        for k, (old, new, b, on) in enumerate(zip(before, after, buffers, stepped)):
            what = f"weight {k} after step {step + 1} ({depth['uses']} middle uses) vs numpy's momentum step"
            assert_close(B, new, old - (lr * b if on else 0), relative_to="max", what=what)
    final = float(np.asarray(B.to_numpy(loss_fn()), dtype=np.float64).reshape(()))
    assert final < losses[0], f"training must lower the loss: {losses[0]:.4g} -> {final:.4g}"


@claim("training.dynamic-net-momentum")
@pytest.mark.workload(WORKLOAD)
@pytest.mark.uses("linear", "linear_parameters", "relu", "mse_loss")
def test_dynamic_net_momentum(B, device, rng):
    model, weights, params, depth = _dynamic_net(B, device)
    x, y = B.tensor(rng.standard_normal((N, D_IN)), device=device), B.tensor(rng.standard_normal((N, D_OUT)), device=device)
    _check_momentum_training(B, model, weights, params, depth, x, y,
                             lambda: B.mse_loss(model(x), y, reduction="sum"), references.numpy_dynamic_grads,
                             1e-4, 0.9, rng)


@claim("training.dynamic-net-momentum")
def test_dynamic_net_momentum_core(B, device, rng):
    model, weights, params, depth = _elementwise_net(B, device, rng)
    x, y = B.tensor(rng.standard_normal(H), device=device), B.tensor(rng.standard_normal(H), device=device)
    _check_momentum_training(B, model, weights, params, depth, x, y, lambda: B.sum((model(x) - y) ** 2),
                             references.numpy_elementwise_dynamic_grads, 3e-3, 0.9, rng)
