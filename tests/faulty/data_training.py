"""Faulty backends for the data, training and determinism suites: the reference adapter with one
behaviour broken.

The first four break the engine: optimizers or the manual update that move weights uphill, and a
seed() that does nothing. The data claims are about torchvision and DataLoader, which no engine
adapter can change; the last three classes therefore break the data pipeline itself, patching
torchvision or torch.utils.data for the whole process when the backend is created (as
core.SavesCopies installs its hooks), each re-creating a mistake a user or a port could make.

CASES lists the claims each targets (tests/test_faulty_backends.py; what else each breaks: side_effects.json)."""

import torch
import torch.utils.data
import torchvision.datasets
import torchvision.transforms.functional

from autograd_conformance.backends.torch_backend import TorchBackend

# ---------------------------------------------------------------------------- the engine


class SgdAscends(TorchBackend):
    """SGD steps along the gradient instead of against it: p <- p + lr * grad."""

    def sgd(self, params, lr, momentum=0.0):
        return torch.optim.SGD(list(params), lr=lr, momentum=momentum, maximize=True)


class AdamAscends(TorchBackend):
    """Adam steps along the gradient instead of against it."""

    def adam(self, params, lr):
        return torch.optim.Adam(list(params), lr=lr, maximize=True)


class SubAdds(TorchBackend):
    """the untracked in-place update t -= delta adds delta instead: manual gradient descent
    (w -= lr * w.grad under no_grad, or through .data) climbs."""

    def sub_(self, t, delta):
        with torch.no_grad():
            t.add_(delta)


class SeedDoesNothing(TorchBackend):
    """seed(n) leaves the random generators as they are."""

    def seed(self, n):
        pass


# ---------------------------------------------------------------------------- the data pipeline

def _patch_once(owner, name, make):
    """Replace owner.name by make(original), once per process."""
    original = getattr(owner, name)
    if not getattr(original, "_faulty_patch", False):
        replacement = make(original)
        replacement._faulty_patch = True
        setattr(owner, name, replacement)


class TrainFlagIgnored(TorchBackend):
    """(data pipeline) FashionMNIST(train=False) loads the training split: the mistake of
    000 In [69], which builds test_data with train=True."""

    def __init__(self):
        def make(original):
            def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
                original(self, root, train=True, transform=transform, target_transform=target_transform,
                         download=download)
            return __init__

        _patch_once(torchvision.datasets.FashionMNIST, "__init__", make)


class ToTensorUnscaled(TorchBackend):
    """(data pipeline) ToTensor converts uint8 pixels to float without dividing by 255."""

    def __init__(self):
        def make(original):
            def to_tensor(pic):
                return original(pic) * 255
            return to_tensor

        _patch_once(torchvision.transforms.functional, "to_tensor", make)


class DataLoaderDropsLast(TorchBackend):
    """(data pipeline) DataLoader drops the last, incomplete batch (drop_last=True by default)."""

    def __init__(self):
        def make(original):
            def __init__(self, dataset, *args, **kwargs):
                kwargs["drop_last"] = True
                original(self, dataset, *args, **kwargs)
            return __init__

        _patch_once(torch.utils.data.DataLoader, "__init__", make)


CASES = [
    (SgdAscends, {"optim.manual-update-equals-sgd", "optim.sgd-momentum-rule", "optim.sgd-update-rule",
        "training.dynamic-net-momentum", "training.fashion-mlp-learns", "training.linreg-fits",
        "training.two-layer-sgd"}),
    (AdamAscends, {"optim.adam-update-rule", "training.two-layer-adam"}),
    (SubAdds, {"manual.training-equals-autograd", "tracking.detach-shares-storage",
        "training.two-layer-autograd-manual"}),
    (SeedDoesNothing, {"determinism.manual-seed-1-golden", "determinism.same-seed-same-training"}),
    (TrainFlagIgnored, {"data.fashionmnist-loads", "data.train-test-distinct"}),
    (ToTensorUnscaled, {"data.dataloader-batches", "data.totensor-format", "training.fashion-mlp-learns"}),
    (DataLoaderDropsLast, {"data.dataloader-batches"}),
]


