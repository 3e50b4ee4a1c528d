"""004 § 8: DynamicNet (its middle layer reused a random 0 to 3 times in each forward) trained with
MSELoss(reduction='sum') and SGD(lr 1e-4, momentum 0.9), at the seed's sizes, against the same
training written in numpy: backprop by hand (references.numpy_dynamic_grads) and the momentum rule."""

import numpy as np
import pytest

from autograd_conformance import references
from autograd_conformance.check import as_in_out, assert_close, linear_values
from autograd_conformance.models import D_IN, D_OUT, H, N

claim = pytest.mark.claim

STEPS = 10
WORKLOAD = N * (D_IN * H + 3 * H * H + H * D_OUT)


def _dynamic_net(B, device):
    """004 § 8's DynamicNet; depth["uses"] sets how often the next forward reuses the middle layer
    (the seed draws it in forward; the module is called with tensors only)."""
    depth = {"uses": 0}
    layers = {"input_linear": B.linear(D_IN, H, device=device), "middle_linear": B.linear(H, H, device=device),
              "output_linear": B.linear(H, D_OUT, device=device)}

    def forward(m, x):
        h = B.relu(m.input_linear(x))
        for _ in range(depth["uses"]):
            h = B.relu(m.middle_linear(h))
        return m.output_linear(h)

    return B.module(forward, **layers), layers, depth


@claim("training.dynamic-net-momentum")
@pytest.mark.workload(WORKLOAD)
def test_dynamic_net_momentum(B, device, rng):
    lr, momentum = 1e-4, 0.9
    model, layers, depth = _dynamic_net(B, device)
    x, y = B.tensor(rng.standard_normal((N, D_IN)), device=device), B.tensor(rng.standard_normal((N, D_OUT)), device=device)
    x64, y64 = (B.to_numpy(t).astype(np.float64) for t in (x, y))
    order = ["input_linear", "middle_linear", "output_linear"]
    buffers = None
    opt = B.sgd([p for _, p in B.named_parameters(model)], lr=lr, momentum=momentum)
    losses = []
    for step in range(STEPS):
        depth["uses"] = int(rng.integers(0, 4))  # random.randint(0, 3)
        # numpy's step from the weights the engine holds now (read by role): each step is checked on
        # its own, so float32 rounding does not pile up along a trajectory that has ReLU kinks
        weights = [v for name in order for v in linear_values(B, layers[name])]  # w_in, b_in, w_mid, ...
        loss = B.mse_loss(model(x), y, reduction="sum")
        losses.append(float(np.asarray(B.to_numpy(loss)).reshape(())))
        B.zero_grad(opt)
        B.backward(loss)
        # zero_grad() sets gradients to None in torch >= 2.0, and a forward that skips the middle
        # layer leaves its gradient None: SGD then skips that layer (its momentum does not carry);
        # an engine that zeroes gradients instead steps it with its momentum. Follow the engine.
        stepped = [B.grad(p) is not None for name in order for p in B.linear_parameters(layers[name])]
        B.step(opt)
        grads = references.numpy_dynamic_grads(x64, y64, depth["uses"], *weights)
        if buffers is None:
            buffers = [g if on else None for g, on in zip(grads, stepped)]
        else:
            buffers = [(g if b is None else momentum * b + g) if on else b
                       for b, g, on in zip(buffers, grads, stepped)]
        steps = [lr * b if on else 0 for b, on in zip(buffers, stepped)]
        for k, name in enumerate(order):
            weight, bias = B.linear_parameters(layers[name])
            what = f"{name} after step {step + 1} ({depth['uses']} middle uses) vs numpy's momentum step"
            assert_close(B, as_in_out(B, B.to_numpy(weight)), weights[2 * k] - steps[2 * k],
                         relative_to="max", what=f"{what}: weight")
            assert_close(B, bias, weights[2 * k + 1] - steps[2 * k + 1], relative_to="max",
                         what=f"{what}: bias")
    final = float(np.asarray(B.to_numpy(B.mse_loss(model(x), y, reduction="sum"))).reshape(()))
    assert final < losses[0], f"training must lower the loss: {losses[0]:.4g} -> {final:.4g}"
