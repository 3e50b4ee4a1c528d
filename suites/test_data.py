"""The data pipeline of the seeds: torchvision's FashionMNIST, ToTensor and DataLoader.

These claims are about torchvision and torch's DataLoader, the reference data pipeline that every
backend's users feed their engine from (claims of level "reference-pipeline"): they do not involve
the engine under test, so they run once per run, on no device, and the reports show them apart from
the engine's verdicts. The pipeline's classes come from the ``pipeline`` fixture, the dataset from
``fashion_root`` (suites/conftest.py): the real FashionMNIST with --fashionmnist-root, else a small
dataset in the same file format. Expected values come from parsing the IDX files directly
(autograd_conformance.fashionmnist.read_idx).
"""

import numpy as np
import pytest

from autograd_conformance.fashionmnist import FILES, raw_folder, read_idx

claim = pytest.mark.claim

REAL_SIZES = {True: 60_000, False: 10_000}


def _split_name(train: bool) -> str:
    return "training" if train else "test"


def _raw(root, train: bool) -> tuple[np.ndarray, np.ndarray]:
    images_file, labels_file = FILES[train]
    return read_idx(raw_folder(root) / images_file), read_idx(raw_folder(root) / labels_file)


def _scaled(images: np.ndarray) -> np.ndarray:
    """What ToTensor makes of uint8 images: float32 values / 255 with a channel axis."""
    return images[:, None].astype(np.float32) / np.float32(255)


@claim("data.fashionmnist-loads")
def test_fashionmnist_loads(pipeline, fashion_root, fashion_is_real):
    sizes = {}
    for train in (True, False):
        ds = pipeline.FashionMNIST(root=fashion_root, train=train, download=False)
        images, labels = _raw(fashion_root, train)
        name = _split_name(train)
        assert len(ds) == len(images) == len(labels), (
            f"the {name} split must have as many items as its IDX files hold ({len(images)}), "
            f"got {len(ds)}")
        np.testing.assert_array_equal(ds.data.numpy(), images,
                                      err_msg=f"{name} images must be the IDX file's pixels")
        np.testing.assert_array_equal(ds.targets.numpy(), labels,
                                      err_msg=f"{name} labels must be the IDX file's labels")
        sizes[train] = len(ds)
    if fashion_is_real:
        assert sizes == REAL_SIZES, (
            f"the real FashionMNIST has 60,000 training and 10,000 test images, got "
            f"{sizes[True]:,} and {sizes[False]:,}")


@claim("data.totensor-format")
@pytest.mark.parametrize("train", [True, False], ids=["train", "test"])
def test_totensor_format(pipeline, fashion_root, train):
    ds = pipeline.FashionMNIST(root=fashion_root, train=train, download=False, transform=pipeline.ToTensor())
    images, labels = _raw(fashion_root, train)
    for i in (0, 1, len(ds) - 1):
        image, label = ds[i]
        pixels = image.numpy()
        assert pixels.shape == (1, 28, 28), f"item {i}: expected an image of shape [1, 28, 28], got {pixels.shape}"
        assert pixels.dtype == np.float32, f"item {i}: expected float32 pixels, got {pixels.dtype}"
        assert type(label) is int and 0 <= label <= 9, f"item {i}: expected an int label in 0..9, got {label!r}"
        assert label == labels[i], f"item {i}: expected label {labels[i]} from the IDX file, got {label}"
        assert pixels.min() >= 0 and pixels.max() <= 1, (
            f"item {i}: ToTensor values must lie in [0, 1], got [{pixels.min()}, {pixels.max()}]")
        np.testing.assert_array_equal(pixels, _scaled(images[i:i + 1])[0],
                                      err_msg=f"item {i}: pixels must be uint8 / 255 in float32")


@claim("data.dataloader-batches")
@pytest.mark.parametrize("batch_size", [16, 64])
def test_dataloader_batches(pipeline, fashion_root, batch_size):
    n = 100  # not a multiple of 16 or 64: the last batch is smaller
    full = pipeline.FashionMNIST(root=fashion_root, train=True, download=False, transform=pipeline.ToTensor())
    ds = pipeline.Subset(full, range(n))
    images, labels = _raw(fashion_root, True)
    batches = list(pipeline.DataLoader(ds, batch_size=batch_size))
    sizes = [len(y) for _, y in batches]
    want = [batch_size] * (n // batch_size) + [n % batch_size]
    assert sizes == want, f"{n} items in batches of {batch_size}: expected batch sizes {want}, got {sizes}"
    for k, (X, y) in enumerate(batches):
        X, y = X.numpy(), y.numpy()
        rows = slice(k * batch_size, k * batch_size + len(y))
        assert X.shape == (len(y), 1, 28, 28) and X.dtype == np.float32, (
            f"batch {k}: expected float32 images [{len(y)}, 1, 28, 28], got {X.dtype} {list(X.shape)}")
        assert y.shape == (len(y),) and y.dtype == np.int64, (
            f"batch {k}: expected int64 labels [{len(y)}], got {y.dtype} {list(y.shape)}")
        np.testing.assert_array_equal(X, _scaled(images[rows]),
                                      err_msg=f"batch {k}: images (dataset order, items {rows.start}..{rows.stop - 1})")
        np.testing.assert_array_equal(y, labels[rows], err_msg=f"batch {k}: labels must be in dataset order")


@claim("data.train-test-distinct")
def test_train_test_distinct(pipeline, fashion_root):
    train = pipeline.FashionMNIST(root=fashion_root, train=True, download=False)
    test = pipeline.FashionMNIST(root=fashion_root, train=False, download=False)
    test_images, test_labels = _raw(fashion_root, False)
    assert len(test) == len(test_images), (
        f"train=False must select the test split ({len(test_images)} items), got {len(test)} items")
    np.testing.assert_array_equal(test.data.numpy(), test_images,
                                  err_msg="train=False must read the t10k IDX files")
    n = min(len(train), len(test))
    same = (train.data[:n] == test.data[:n]).numpy().all(axis=(1, 2))
    assert not same.all(), f"the test split must differ from the training split: its first {n} images are the same"
