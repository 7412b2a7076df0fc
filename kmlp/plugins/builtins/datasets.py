"""Specs of the built-in datasets. Imports no keras: the loaders live in their own modules."""

from __future__ import annotations

from pathlib import Path

from kmlp.api import DatasetSpec, Param

_SIZE_DOC = "Use only the first N examples of this split (quick experiments); unset for all."


def _idx_params(debian_dir: str) -> dict[str, Param]:
    return {
        "path": Param(
            str,
            None,
            "Directory holding the four IDX .gz files. Searched first; then $KMLP_DATA_DIR/<name>, "
            f"the Keras cache, and /usr/share/datasets/{debian_dir}.",
        ),
        "download": Param(bool, True, "Download through keras.datasets when the files are found nowhere."),
        "scale": Param(bool, True, "Scale pixels to [0, 1] as float32 (false keeps 0..255)."),
        "train_size": Param(int, None, _SIZE_DOC, ge=1),
        "test_size": Param(int, None, _SIZE_DOC, ge=1),
    }


MNIST = DatasetSpec(
    summary="MNIST handwritten digits: 60,000 train / 10,000 test 28x28 grey images, 10 classes.",
    loader="kmlp.plugins.builtins.idx:load_mnist",
    params=_idx_params("mnist"),
)

FASHION_MNIST = DatasetSpec(
    summary="Fashion-MNIST clothing images: 60,000 train / 10,000 test 28x28 grey images, 10 classes.",
    loader="kmlp.plugins.builtins.idx:load_fashion_mnist",
    params=_idx_params("fashion-mnist"),
)

DIGITS = DatasetSpec(
    summary="scikit-learn's bundled 8x8 digits (1,797 images, 10 classes): fully offline, trains in seconds.",
    loader="kmlp.plugins.builtins.small:load_digits",
    requires=("scikit-learn",),
    params={
        "test_fraction": Param(float, 0.2, "Fraction of the images held out as the test split.", gt=0, lt=1),
        "scale": Param(bool, True, "Scale pixel values 0..16 to [0, 1]."),
    },
)

SYNTHETIC = DatasetSpec(
    summary="Seeded Gaussian blobs of any shape and class count, for tests and benchmarks.",
    loader="kmlp.plugins.builtins.small:load_synthetic",
    params={
        "train_samples": Param(int, 2048, "Examples in the train split.", ge=1),
        "test_samples": Param(int, 512, "Examples in the test split.", ge=1),
        "input_shape": Param(list[int], [32], "Shape of one example, without the batch dimension."),
        "num_classes": Param(int, 4, "Number of classes.", ge=2),
        "noise": Param(float, 1.0, "Standard deviation around each class centre; larger is harder.", ge=0),
    },
)

NPY = DatasetSpec(
    summary="Your own arrays saved with np.save (.npy): inputs streamed from disk in chunks, or held in memory.",
    loader="kmlp.plugins.builtins.npyfiles:load_npy",
    params={
        "train_x": Param(str, "train_x.npy", "Path of the train inputs (.npy, one row per example)."),
        "train_y": Param(str, "train_y.npy", "Path of the train labels (.npy, 1-D integer class ids)."),
        "test_x": Param(str, "test_x.npy", "Path of the test inputs (.npy)."),
        "test_y": Param(str, "test_y.npy", "Path of the test labels (.npy)."),
        "stream": Param(
            bool,
            True,
            "Read inputs from disk a chunk at a time (memory stays flat for files larger than memory); "
            "false loads them into memory (faster random access, shuffles across the whole split).",
        ),
        "num_classes": Param(int, None, "Number of classes; default: the largest label + 1.", ge=2),
    },
    # Tiny files shipped for `kmlp plugins check kmlp` (the conformance kit needs data to load).
    check_params={
        f"{split}_{part}": str(Path(__file__).parent / "npy_check" / f"{split}_{part}.npy")
        for split in ("train", "test")
        for part in ("x", "y")
    },
)
