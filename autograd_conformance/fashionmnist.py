"""A small, deterministic stand-in for FashionMNIST, written in the real dataset's file format.

The data claims are about torchvision's ``FashionMNIST`` class and torch's ``DataLoader``; the
suites need files those read without a download. ``generate(root)`` writes the four uncompressed
IDX files under ``root/FashionMNIST/raw/`` (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``), which is exactly what
``torchvision.datasets.FashionMNIST(root, train=..., download=False)`` opens.

The images are 28x28 uint8 silhouettes, one template per class (shirt, trousers, dress, bag,
boot, ...), each sample shifted by up to 2 pixels, scaled in brightness and covered in noise.
A small MLP separates the classes well above chance within a few dozen SGD steps; the training
and test splits are drawn from different random streams, so no image is shared.

Everything is integer arithmetic on numpy's legacy ``RandomState`` (whose streams numpy keeps
stable across versions), so the same arguments give byte-identical files on every platform.

Run ``python -m autograd_conformance.fashionmnist DIR`` to write the default dataset into DIR.
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

import numpy as np

SIZE = 28
N_TRAIN, N_TEST = 512, 128
SEED = 20220131  # the training split; the test split uses SEED + 1
MAX_SHIFT = 2  # pixels, in each direction
NOISE = 40  # uniform integer noise in [-NOISE, NOISE] on every pixel
FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801  # uint8 data; 3 and 1 dimensions


def raw_folder(root: str | Path) -> Path:
    """Where torchvision looks for the files: ROOT/FashionMNIST/raw."""
    return Path(root) / "FashionMNIST" / "raw"


def templates() -> np.ndarray:
    """The ten class silhouettes, (10, 28, 28) int64 intensities in 0..255."""
    t = np.zeros((10, SIZE, SIZE), dtype=np.int64)

    def box(k, r0, r1, c0, c1, v):
        t[k, r0:r1, c0:c1] = v

    # 0 T-shirt/top: torso and short sleeves
    box(0, 6, 24, 8, 20, 200)
    box(0, 6, 11, 3, 25, 200)
    # 1 Trouser: waistband and two legs
    box(1, 3, 7, 8, 20, 180)
    box(1, 7, 26, 8, 13, 180)
    box(1, 7, 26, 15, 20, 180)
    # 2 Pullover: torso and long sleeves, softer
    box(2, 5, 23, 8, 20, 150)
    box(2, 5, 21, 3, 7, 150)
    box(2, 5, 21, 21, 25, 150)
    # 3 Dress: a trapezoid that widens towards the hem
    for r in range(3, 26):
        half = 2 + (r - 3) * 9 // 22
        t[3, r, 14 - half:14 + half] = 170
    # 4 Coat: long torso, long sleeves, a dark zip down the middle
    box(4, 3, 26, 7, 21, 220)
    box(4, 3, 24, 2, 6, 220)
    box(4, 3, 24, 22, 26, 220)
    box(4, 3, 26, 13, 15, 60)
    # 5 Sandal: thin straps over a sole
    box(5, 21, 24, 2, 26, 160)
    for c in range(4, 24, 5):
        box(5, 13, 21, c, c + 2, 160)
    box(5, 13, 15, 4, 24, 160)
    # 6 Shirt: torso, long sleeves, a bright collar and a button line
    box(6, 6, 25, 8, 20, 120)
    box(6, 6, 23, 4, 8, 120)
    box(6, 6, 23, 20, 24, 120)
    box(6, 4, 7, 10, 18, 250)
    box(6, 7, 25, 13, 15, 250)
    # 7 Sneaker: a low wedge
    for r in range(14, 23):
        start = 2 + (22 - r) * 10 // 8
        t[7, r, start:26] = 210
    # 8 Bag: a body and a handle
    box(8, 10, 25, 4, 24, 140)
    box(8, 4, 10, 7, 9, 140)
    box(8, 4, 10, 19, 21, 140)
    box(8, 4, 6, 7, 21, 140)
    # 9 Ankle boot: a shaft and a foot
    box(9, 3, 24, 13, 22, 190)
    box(9, 17, 24, 3, 22, 190)
    box(9, 24, 26, 3, 23, 250)
    return t


def make_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n images (n, 28, 28) uint8 and n labels (n,) uint8 from the given seed."""
    rs = np.random.RandomState(seed)
    labels = rs.permutation(np.arange(n, dtype=np.int64) % 10)
    shifts = rs.randint(-MAX_SHIFT, MAX_SHIFT + 1, size=(n, 2), dtype=np.int64)
    gains = rs.randint(10, 17, size=n, dtype=np.int64)  # brightness gain / 16
    noise = rs.randint(-NOISE, NOISE + 1, size=(n, SIZE, SIZE), dtype=np.int64)
    padded = np.pad(templates(), ((0, 0), (MAX_SHIFT, MAX_SHIFT), (MAX_SHIFT, MAX_SHIFT)))
    images = np.empty((n, SIZE, SIZE), dtype=np.uint8)
    for i in range(n):
        r, c = MAX_SHIFT + shifts[i, 0], MAX_SHIFT + shifts[i, 1]
        image = padded[labels[i], r:r + SIZE, c:c + SIZE] * gains[i] // 16 + noise[i]
        images[i] = np.clip(image, 0, 255)
    return images, labels.astype(np.uint8)


def idx_bytes(array: np.ndarray) -> bytes:
    """An uint8 array in IDX format: magic (0, 0, type 8, ndim), big-endian sizes, the data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def read_idx(path: str | Path) -> np.ndarray:
    """An uint8 IDX file as a numpy array, parsed independently of torchvision."""
    data = Path(path).read_bytes()
    (magic,) = struct.unpack(">I", data[:4])
    if magic >> 8 != 0x08:
        raise ValueError(f"{path}: not an uint8 IDX file (magic {magic:#010x})")
    ndim = magic & 0xFF
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    values = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if values.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape}, file holds {values.size} values")
    return values.reshape(shape)


def check_root(root: str | Path) -> str | None:
    """None if root holds the four FashionMNIST IDX files (images 3-d, labels 1-d, as many of each,
    sizes as their headers say); else what is wrong, naming the file."""
    folder = raw_folder(root)
    if not folder.is_dir():
        return f"{folder} is not a directory (expected ROOT/FashionMNIST/raw/*-ubyte)"
    for images_file, labels_file in FILES.values():
        shapes = []
        for name, ndim in ((images_file, 3), (labels_file, 1)):
            path = folder / name
            if not path.is_file():
                return f"{path} is missing"
            try:
                shape = read_idx(path).shape
            except (ValueError, struct.error, OSError) as exc:
                return f"{path} is not a valid IDX file: {exc}"
            if len(shape) != ndim:
                return f"{path} has {len(shape)} dimensions, expected {ndim}"
            shapes.append(shape)
        if shapes[0][0] != shapes[1][0]:
            return f"{folder / images_file} holds {shapes[0][0]} images but {labels_file} {shapes[1][0]} labels"
    return None


def generate(root: str | Path, n_train: int = N_TRAIN, n_test: int = N_TEST, seed: int = SEED) -> Path:
    """Write the dataset under root/FashionMNIST/raw/ and return root."""
    folder = raw_folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    for train, n, split_seed in ((True, n_train, seed), (False, n_test, seed + 1)):
        images, labels = make_split(n, split_seed)
        images_file, labels_file = FILES[train]
        (folder / images_file).write_bytes(idx_bytes(images))
        (folder / labels_file).write_bytes(idx_bytes(labels))
    return Path(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograd_conformance.fashionmnist",
        description="Write a small synthetic dataset in FashionMNIST's IDX format to "
                    "DIR/FashionMNIST/raw/, for torchvision.datasets.FashionMNIST(DIR, download=False).")
    parser.add_argument("root", metavar="DIR", type=Path)
    parser.add_argument("--train", type=int, default=N_TRAIN, help=f"training images (default {N_TRAIN})")
    parser.add_argument("--test", type=int, default=N_TEST, help=f"test images (default {N_TEST})")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    args = parser.parse_args(argv)
    root = generate(args.root, args.train, args.test, args.seed)
    for name in (*FILES[True], *FILES[False]):
        path = raw_folder(root) / name
        print(f"{path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
