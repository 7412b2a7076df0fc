"""The backend under test is ``KERAS_BACKEND`` (kmlp's tox envs set one); Keras writes under a temporary home."""

from __future__ import annotations

import os

import pytest

BACKEND = os.environ.get("KERAS_BACKEND") or "jax"


@pytest.fixture(autouse=True, scope="session")
def _isolated_keras_home(tmp_path_factory):
    os.environ["KERAS_HOME"] = str(tmp_path_factory.mktemp("keras-home"))
    os.environ["KERAS_BACKEND"] = BACKEND
