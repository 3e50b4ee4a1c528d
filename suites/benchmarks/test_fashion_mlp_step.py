"""One training step of the FashionMNIST MLPs on random data: MyNet 784-512-10 (000 In [80], SGD lr
0.1, batch 16) and NeuralNetwork 784-512-512-10 (002 In [139], [300], SGD lr 1e-4, batch 64), each at batch 16 and 64.
Cross-entropy loss; order as in the seeds: forward, loss, zero_grad, backward, step."""

import numpy as np
import pytest

from autograd_conformance import models
from autograd_conformance.benchmarks.workloads import describe, mlp_step_flops
from autograd_conformance.protocol import Capability

ARCHS = {"784-512-10": ((784, 512, 10), 1e-1), "784-512-512-10": ((784, 512, 512, 10), 1e-4)}

pytestmark = [pytest.mark.benchmark(group="fashion_mlp_step"),
              pytest.mark.needs(Capability.MODULES.value, Capability.OPTIMIZERS.value,
                                   Capability.STORES_GRADIENTS.value)]


@pytest.mark.parametrize("batch", [16, 64], ids=lambda b: f"b{b}")
@pytest.mark.parametrize("arch", list(ARCHS))
def test_fashion_mlp_step(B, device, rng, benchmark, arch, batch):
    dims, lr = ARCHS[arch]
    model = models.mynet(B, device) if arch == "784-512-10" else models.neural_network(B, device)[0]
    opt = B.sgd([p for _, p in B.named_parameters(model)], lr=lr)
    images = B.tensor(rng.random((batch, 1, 28, 28)), device=device,  # ToTensor's range [0, 1]
                      requires_grad=False)
    labels = B.tensor(rng.integers(0, 10, batch), device=device, dtype="int64", requires_grad=False)

    def step():
        loss = B.cross_entropy(model(images), labels)
        B.zero_grad(opt)
        B.backward(loss)
        B.step(opt)
        return B.to_numpy(loss)

    # flops: 3 * forward products - the input gradient of the first layer (data needs none)
    describe(benchmark, B, device, f"fashion_mlp_step[{arch},b{batch}]",
             flops=mlp_step_flops(batch, dims), batch=batch, arch=arch)
    step()
    loss = benchmark(step)
    assert np.isfinite(loss), f"the training step produced a non-finite loss {loss}"
