"""MNIST-1D for kmlp: the 1-D digits benchmark, generated locally from its templates (nothing is downloaded)."""
