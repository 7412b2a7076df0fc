"""The models: any input rank, the token grid, clear errors, and custom layers that survive saving anywhere."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from kmlp.errors import KmlpError
from kmlp.registry import create_model

SMALL = {
    "mlp_mixer": {"hidden_dim": 8, "depth": 2, "tokens_mlp_dim": 4, "channels_mlp_dim": 8},
    "resmlp": {"hidden_dim": 8, "depth": 2, "mlp_ratio": 2},
}
INSTALLED_BACKENDS = [b for b in ("jax", "tensorflow", "torch") if importlib.util.find_spec(b)]


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize(
    ("input_shape", "patch_size", "tokens"),
    [((40,), 4, 10), ((28, 28), 7, 16), ((12, 12, 3), 4, 9), ((30, 28), 4, 49)],
)
def test_builds_for_signals_grey_and_colour_images(name, input_shape, patch_size, tokens):
    model = create_model(name, input_shape=input_shape, num_outputs=5, patch_size=patch_size, **SMALL[name])
    assert model.output_shape == (None, 5)
    assert model.get_layer("tokens").output.shape == (None, tokens, 8)
    x = np.random.default_rng(0).normal(size=(2, *input_shape)).astype("float32")
    assert model.predict(x, verbose=0).shape == (2, 5)


def test_a_patch_larger_than_the_input_is_a_user_error():
    with pytest.raises(KmlpError, match=r"input_shape \(8, 8\) is smaller than architecture.patch_size = 16") as caught:
        create_model("mlp_mixer", input_shape=(8, 8), num_outputs=3, patch_size=16)
    assert caught.value.hint == "use a patch_size of at most 8"
    with pytest.raises(KmlpError, match="not a signal"):
        create_model("resmlp", input_shape=(2, 4, 4, 1), num_outputs=3)


def test_custom_layers_rebuild_from_their_config():
    from kmlp_mixer.layers import Affine, MixerBlock, MlpBlock, ResMLPBlock

    for layer in (MlpBlock(6, 0.1), MixerBlock(4, 8, 0.2), Affine(), ResMLPBlock(3, 0.5, 0.1)):
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config


@pytest.mark.parametrize("loader_backend", INSTALLED_BACKENDS)
@pytest.mark.parametrize("name", sorted(SMALL))
def test_saved_model_loads_in_a_fresh_process_with_only_the_plugin(name, loader_backend, tmp_path):
    """Saved on the backend under test, loaded by plain Keras after `import kmlp_mixer.layers`, on each backend."""
    model = create_model(name, input_shape=(16, 16), num_outputs=4, **SMALL[name])
    x = np.random.default_rng(1).normal(size=(3, 16, 16)).astype("float32")
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "x.npy", x)
    code = (
        "import sys, numpy as np, keras, kmlp_mixer.layers\n"
        "model = keras.saving.load_model(sys.argv[1])\n"
        "np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))\n"
    )
    paths = [str(tmp_path / f) for f in ("model.keras", "x.npy", "out.npy")]
    done = subprocess.run(
        [sys.executable, "-c", code, *paths],
        env={**os.environ, "KERAS_BACKEND": loader_backend, "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
