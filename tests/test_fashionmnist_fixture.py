"""The committed FashionMNIST fixture is exactly what the generator writes, so it cannot drift."""

from pathlib import Path

from autograd_conformance import fashionmnist

COMMITTED = Path(__file__).resolve().parent.parent / "fixtures"


def test_committed_fixture_equals_generator_output(tmp_path):
    fashionmnist.generate(tmp_path)
    want = fashionmnist.raw_folder(tmp_path)
    have = fashionmnist.raw_folder(COMMITTED)
    names = sorted(p.name for p in want.iterdir())
    assert sorted(p.name for p in have.iterdir()) == names, (
        f"{have} must hold exactly the generated files {names}")
    for name in names:
        assert (have / name).read_bytes() == (want / name).read_bytes(), (
            f"fixtures/FashionMNIST/raw/{name} differs from the generator's output: regenerate it "
            "with `python -m autograd_conformance.fashionmnist fixtures`")


def test_generator_is_deterministic_and_splits_differ():
    train_a, labels_a = fashionmnist.make_split(64, fashionmnist.SEED)
    train_b, labels_b = fashionmnist.make_split(64, fashionmnist.SEED)
    assert train_a.tobytes() == train_b.tobytes() and labels_a.tobytes() == labels_b.tobytes()
    test, _ = fashionmnist.make_split(64, fashionmnist.SEED + 1)
    assert not (train_a == test).all(axis=(1, 2)).any(), "a test image equals a training image"


def test_files_are_valid_idx(tmp_path):
    fashionmnist.generate(tmp_path, n_train=30, n_test=20)
    folder = fashionmnist.raw_folder(tmp_path)
    images = fashionmnist.read_idx(folder / "train-images-idx3-ubyte")
    labels = fashionmnist.read_idx(folder / "t10k-labels-idx1-ubyte")
    assert images.shape == (30, 28, 28) and images.dtype.name == "uint8"
    assert labels.shape == (20,) and labels.max() <= 9
    assert (folder / "train-images-idx3-ubyte").read_bytes()[:4] == b"\x00\x00\x08\x03"
    assert (folder / "train-labels-idx1-ubyte").read_bytes()[:4] == b"\x00\x00\x08\x01"
