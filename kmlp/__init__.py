"""kmlp: train Keras 3 models from a TOML recipe on TensorFlow, PyTorch or JAX.

Importing this package imports no backend: the backend is chosen by the CLI (or the caller) before keras loads.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kmlp")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
