"""MNIST and Fashion-MNIST: find the standard IDX files locally, read them, or download through Keras.

Search order: the ``path`` parameter, ``$KMLP_DATA_DIR/<name>``, the Keras cache (where
``keras.datasets`` downloads to), and the Debian/Ubuntu location ``/usr/share/datasets/<name>`` that the
``dataset-fashion-mnist`` package installs. When the files are nowhere and the download fails too, the error
lists every place searched and how to provide the files.
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kmlp.api import DatasetSplits
from kmlp.errors import KmlpError

SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
#: Where Debian/Ubuntu's dataset packages put their files (``dataset-fashion-mnist``).
DEBIAN_ROOT = Path("/usr/share/datasets")
_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
}


@dataclass(frozen=True)
class _Source:
    """How one dataset is known: its directory names and the Keras cache layout."""

    name: str
    debian_dir: str
    keras_cache: str  # relative to <keras home>/datasets
    class_names: tuple[str, ...]


MNIST = _Source("mnist", "mnist", "mnist.npz", tuple(str(d) for d in range(10)))
FASHION_MNIST = _Source(
    "fashion_mnist",
    "fashion-mnist",
    "fashion-mnist",
    (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
)


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (``.gz`` or raw); a truncated or corrupt file is a ``KmlpError`` naming it."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise KmlpError(f"cannot read {path}: {exc}", _REFETCH) from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise KmlpError(f"{path} is not an IDX file (bad magic number)", _REFETCH)
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise KmlpError(f"{path} is truncated (header cut short)", _REFETCH)
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise KmlpError(
            f"{path} is truncated or corrupt: header promises {expected} bytes of data for shape {shape}, "
            f"file has {len(raw) - header}",
            _REFETCH,
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


_REFETCH = "download the file again, or delete it so kmlp looks elsewhere"


def _find_idx_file(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def _load_idx_dir(directory: Path) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """The train/test arrays from a directory with the four IDX files, or ``None`` if any is missing."""
    paths = {
        split: (_find_idx_file(directory, images), _find_idx_file(directory, labels))
        for split, (images, labels) in SPLIT_FILES.items()
    }
    if any(p is None for pair in paths.values() for p in pair):
        return None
    splits = {}
    for split, (images_path, labels_path) in paths.items():
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or labels.ndim != 1:
            raise KmlpError(
                f"{images_path} / {labels_path}: expected images of shape (N, rows, cols) and labels of shape "
                f"(N,), found {images.shape} and {labels.shape}"
            )
        if len(images) != len(labels):
            raise KmlpError(
                f"{directory}: the {split} split has {len(images)} images but {len(labels)} labels",
                "the two files come from different downloads; fetch both again",
            )
        splits[split] = (images, labels)
    return splits


def _load_npz(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            return {"train": (data["x_train"], data["y_train"]), "test": (data["x_test"], data["y_test"])}
    except (OSError, ValueError, KeyError, zlib.error) as exc:
        raise KmlpError(f"cannot read {path}: {exc}", _REFETCH) from exc


def keras_cache_dir() -> Path:
    """Where ``keras.datasets`` caches downloads (``$KERAS_HOME/datasets``, default ``~/.keras/datasets``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def search_locations(source: _Source, path: str | None) -> list[Path]:
    """Every place searched, in order (also what the error lists when nothing is found)."""
    places = []
    if path:
        places.append(Path(path).expanduser())
    if os.environ.get("KMLP_DATA_DIR"):
        places.append(Path(os.environ["KMLP_DATA_DIR"]).expanduser() / source.name)
    places.append(keras_cache_dir() / source.keras_cache)
    places.append(DEBIAN_ROOT / source.debian_dir)
    return places


def _load_local(source: _Source, path: str | None) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    if path and not Path(path).expanduser().exists():
        raise KmlpError(
            f"dataset.path {path!r} does not exist",
            "point it at a directory with the four IDX .gz files, or remove it to search the usual places",
        )
    for place in search_locations(source, path):
        found = _load_npz(place) if place.suffix == ".npz" else _load_idx_dir(place) if place.is_dir() else None
        if found is not None:
            return found
    return None


def _download(source: _Source) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    import keras  # the download path only: keras is already loaded by the time a run needs data

    module = keras.datasets.mnist if source is MNIST else keras.datasets.fashion_mnist
    (x_train, y_train), (x_test, y_test) = module.load_data()
    return {"train": (x_train, y_train), "test": (x_test, y_test)}


def _load(
    source: _Source,
    *,
    download: bool,
    scale: bool,
    path: str | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
) -> DatasetSplits:
    splits = _load_local(source, path)
    download_error = None
    if splits is None and download:
        try:
            splits = _download(source)
        except Exception as exc:  # urllib/HTTP/OS errors surface in many types; all mean "no download"
            download_error = f"{type(exc).__name__}: {exc}"
    if splits is None:
        searched = "\n    ".join(str(p) for p in search_locations(source, path))
        tried = f"download failed ({download_error})" if download_error else "download is off (download = false)"
        raise KmlpError(
            f"{source.name} data not found; searched:\n    {searched}\n  and the {tried}",
            "put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
            "t10k-labels-idx1-ubyte.gz in one of those directories (or set dataset.path)"
            + (", or apt-get install dataset-fashion-mnist" if source is FASHION_MNIST else ""),
        )
    (x_train, y_train), (x_test, y_test) = splits["train"], splits["test"]
    x_train, y_train = x_train[:train_size], y_train[:train_size]
    x_test, y_test = x_test[:test_size], y_test[:test_size]
    if scale:
        x_train = x_train.astype(np.float32) / np.float32(255)
        x_test = x_test.astype(np.float32) / np.float32(255)
    return DatasetSplits(
        train=(x_train, y_train.astype(np.int64)),
        test=(x_test, y_test.astype(np.int64)),
        input_shape=tuple(x_train.shape[1:]),
        num_classes=10,
        class_names=source.class_names,
    )


def load_mnist(*, seed: int, **params) -> DatasetSplits:
    return _load(MNIST, **params)


def load_fashion_mnist(*, seed: int, **params) -> DatasetSplits:
    return _load(FASHION_MNIST, **params)
