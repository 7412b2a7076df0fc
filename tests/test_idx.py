"""MNIST / Fashion-MNIST loading: the IDX reader, where files are searched, and every way they can be bad."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from idx_files import idx_bytes, write_idx_dataset

from kmlp.errors import KmlpError
from kmlp.plugins.builtins import idx
from kmlp.plugins.builtins.idx import load_fashion_mnist, load_mnist, read_idx

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
OPTIONS = {"download": False, "scale": True, "train_size": None, "test_size": None}


@pytest.fixture(autouse=True)
def no_default_places(monkeypatch, tmp_path):
    """Searches see only what a test puts there: an empty Keras cache and no Debian directory."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv("KMLP_DATA_DIR", raising=False)
    monkeypatch.setattr(idx, "DEBIAN_ROOT", tmp_path / "no-debian")


def test_read_idx_round_trip(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "x.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (tmp_path / "x").write_bytes(idx_bytes(images))
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "x"), images)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (gzip.compress(idx_bytes(np.zeros((5, 28, 28))))[:-40], "cannot read .*x.gz"),  # truncated download
        (b"this is not gzip at all", "cannot read .*x.gz"),
        (gzip.compress(b"\x01\x02\x08\x03" + b"\x00" * 20), "not an IDX file"),
        (gzip.compress(idx_bytes(np.zeros((5, 28, 28)))[:-100]), "truncated or corrupt: header promises 3920 bytes"),
        (gzip.compress(bytes([0, 0, 8, 3, 0, 0])), "truncated \\(header cut short\\)"),
    ],
    ids=["truncated-gzip", "not-gzip", "bad-magic", "short-data", "short-header"],
)
def test_bad_idx_files_are_clear_errors(tmp_path, content, message):
    (tmp_path / "x.gz").write_bytes(content)
    with pytest.raises(KmlpError, match=message) as caught:
        read_idx(tmp_path / "x.gz")
    assert "download the file again" in caught.value.hint


def test_load_from_explicit_path(tmp_path):
    written = write_idx_dataset(tmp_path / "fm")
    data = load_fashion_mnist(seed=0, path=str(tmp_path / "fm"), **OPTIONS)
    x, y = data.train
    assert x.shape == (30, 28, 28) and x.dtype == np.float32 and x.min() >= 0.0 and x.max() <= 1.0
    np.testing.assert_allclose(x, written["x_train"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, written["y_train"])
    assert y.dtype == np.int64
    assert data.test[0].shape == (12, 28, 28)
    assert data.input_shape == (28, 28) and data.num_classes == 10 and data.class_names[0] == "T-shirt/top"


def test_sizes_and_unscaled(tmp_path):
    write_idx_dataset(tmp_path / "m")
    data = load_mnist(seed=0, path=str(tmp_path / "m"), **{**OPTIONS, "scale": False, "train_size": 7, "test_size": 3})
    assert data.train[0].shape == (7, 28, 28) and data.train[0].dtype == np.uint8
    assert data.test[0].shape == (3, 28, 28)


def test_image_and_label_counts_must_agree(tmp_path):
    write_idx_dataset(tmp_path / "m")
    (tmp_path / "m" / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(11))))
    with pytest.raises(KmlpError, match="the test split has 12 images but 11 labels"):
        load_mnist(seed=0, path=str(tmp_path / "m"), **OPTIONS)


def test_search_order_path_then_env_then_keras_cache_then_debian(tmp_path, monkeypatch):
    write_idx_dataset(tmp_path / "debian" / "fashion-mnist", train=4, seed=1)
    monkeypatch.setattr(idx, "DEBIAN_ROOT", tmp_path / "debian")
    assert len(load_fashion_mnist(seed=0, path=None, **OPTIONS).train[0]) == 4
    write_idx_dataset(tmp_path / "keras-home" / "datasets" / "fashion-mnist", train=5)
    assert len(load_fashion_mnist(seed=0, path=None, **OPTIONS).train[0]) == 5
    write_idx_dataset(tmp_path / "data" / "fashion_mnist", train=6)
    monkeypatch.setenv("KMLP_DATA_DIR", str(tmp_path / "data"))
    assert len(load_fashion_mnist(seed=0, path=None, **OPTIONS).train[0]) == 6
    write_idx_dataset(tmp_path / "mine", train=7)
    assert len(load_fashion_mnist(seed=0, path=str(tmp_path / "mine"), **OPTIONS).train[0]) == 7


def test_keras_cache_npz_for_mnist(tmp_path):
    cache = tmp_path / "keras-home" / "datasets"
    cache.mkdir(parents=True)
    a = write_idx_dataset(tmp_path / "tmp", train=8, test=2)
    np.savez(cache / "mnist.npz", x_train=a["x_train"], y_train=a["y_train"], x_test=a["x_test"], y_test=a["y_test"])
    assert load_mnist(seed=0, path=None, **OPTIONS).train[0].shape == (8, 28, 28)


def test_nothing_found_lists_every_place_and_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("KMLP_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(KmlpError) as caught:
        load_fashion_mnist(seed=0, path=None, **OPTIONS)
    message = caught.value.message
    assert "fashion_mnist data not found; searched:" in message
    for place in (
        tmp_path / "data" / "fashion_mnist",
        tmp_path / "keras-home" / "datasets" / "fashion-mnist",
        tmp_path / "no-debian" / "fashion-mnist",
    ):
        assert str(place) in message
    assert "download is off" in message
    assert (
        "t10k-labels-idx1-ubyte.gz" in caught.value.hint
        and "apt-get install dataset-fashion-mnist" in caught.value.hint
    )


def test_failed_download_is_reported(monkeypatch):
    def offline(source):
        raise OSError("Could not resolve host: storage.googleapis.com")

    monkeypatch.setattr(idx, "_download", offline)
    with pytest.raises(KmlpError, match="download failed \\(OSError: Could not resolve host"):
        load_mnist(seed=0, path=None, **{**OPTIONS, "download": True})


def test_explicit_path_that_does_not_exist(tmp_path):
    with pytest.raises(KmlpError, match="dataset.path '.*nowhere' does not exist"):
        load_mnist(seed=0, path=str(tmp_path / "nowhere"), **OPTIONS)


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="apt-get install dataset-fashion-mnist (done by .ci/run)")
def test_real_debian_fashion_mnist(monkeypatch):
    monkeypatch.setattr(idx, "DEBIAN_ROOT", DEBIAN_FASHION.parent)
    data = load_fashion_mnist(seed=0, path=None, **OPTIONS)
    (x, y), (tx, ty) = data.train, data.test
    assert x.shape == (60000, 28, 28) and tx.shape == (10000, 28, 28)
    assert np.bincount(y).tolist() == [6000] * 10 and np.bincount(ty).tolist() == [1000] * 10
    assert x.dtype == np.float32 and float(x.max()) == 1.0


def test_unset_parameters_are_left_out_and_default_to_none(tmp_path):
    """A recipe passes only the parameters it sets (``Recipe.params`` drops unset ones): the loader copes."""
    from conftest import RECIPES

    from kmlp.plugins.registry import default_registry
    from kmlp.recipe.resolve import load

    write_idx_dataset(tmp_path / "fm")
    recipe = load(RECIPES / "fashion_mnist_mlp.toml", [f'dataset.path="{tmp_path / "fm"}"'])
    assert "train_size" not in recipe.params("dataset")
    data = default_registry().lookup("dataset", "fashion_mnist").spec.load(seed=0, **recipe.params("dataset"))
    assert data.train[0].shape == (30, 28, 28) and data.test[0].shape == (12, 28, 28)
