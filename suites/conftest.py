"""Fixtures shared by the conformance suites: where the FashionMNIST files come from.

The data and training claims read FashionMNIST through torchvision with download=False. The
dataset is, in this order of preference:
1. the directory given with --fashionmnist-root (the real dataset: DIR/FashionMNIST/raw/*-ubyte);
2. <rootdir>/fixtures, the small dataset committed with the project's checkout;
3. the same small dataset generated into a temporary directory (an installed copy of the suites
   has no checkout to read from).
2 and 3 hold the same bytes: autograd_conformance.fashionmnist writes both.
"""

from pathlib import Path
from types import SimpleNamespace

import pytest

from autograd_conformance.fashionmnist import FILES, generate, raw_folder


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "inputs(kind): a value test's inputs: 'seed' (the seeds' own numbers and shapes) or "
                   "'random' (drawn from rng or Hypothesis); tests/test_seed_rules.py checks that every "
                   "value claim (claims.VALUE_CLAIMS) has both")


def _has_dataset(root: Path) -> bool:
    folder = raw_folder(root)
    return all((folder / name).is_file() for names in FILES.values() for name in names)


@pytest.fixture(scope="session")
def fashion_is_real(request: pytest.FixtureRequest) -> bool:
    """True when the run was pointed at a dataset with --fashionmnist-root (taken to be the real
    FashionMNIST, whose sizes the data claims then check)."""
    return request.config.getoption("fashionmnist_root") is not None


@pytest.fixture(scope="session")
def fashion_root(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The root directory to pass to torchvision.datasets.FashionMNIST(root, download=False)."""
    given = request.config.getoption("fashionmnist_root")
    if given is not None:
        return str(Path(given).expanduser())
    committed = Path(request.config.rootpath) / "fixtures"
    if _has_dataset(committed):
        return str(committed)
    return str(generate(tmp_path_factory.mktemp("fashionmnist")))


@pytest.fixture(scope="session")
def pipeline() -> SimpleNamespace:
    """The reference data pipeline: torchvision's FashionMNIST and ToTensor, torch's DataLoader
    and Subset, imported when a test first asks for them. Importing torchvision takes about a
    second (it imports torch._dynamo), which a run that selects none of these tests, or an xdist
    worker that gets none, does not pay; nor does an engine other than torch import torch for them."""
    from torch.utils.data import DataLoader, Subset
    from torchvision.datasets import FashionMNIST
    from torchvision.transforms import ToTensor
    return SimpleNamespace(FashionMNIST=FashionMNIST, ToTensor=ToTensor, DataLoader=DataLoader, Subset=Subset)
