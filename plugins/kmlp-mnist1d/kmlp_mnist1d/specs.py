"""What kmlp reads to list, show and validate the dataset. Imports neither keras nor mnist1d."""

from __future__ import annotations

from kmlp.api import DatasetSpec, Param

MNIST1D = DatasetSpec(
    summary="MNIST-1D (Greydanus, 2020): 1-D signals of 40 steps made from 10 digit templates by padding, "
    "shift, scaling, shear and noise; 4,000 train / 1,000 test, 10 classes. Generated locally.",
    loader="kmlp_mnist1d.loader:load_mnist1d",
    requires=("mnist1d",),
    params={
        "data_seed": Param(
            int,
            42,
            "Seed of the generator. 42 with the other defaults gives the benchmark's settings; the recipe's own "
            "seed (weights, shuffling) does not change the data.",
            ge=0,
        ),
        "num_samples": Param(
            int,
            5000,
            "Examples generated (train + test), the same number per digit (rounded down to a multiple of 10).",
            ge=10,
        ),
        "train_fraction": Param(
            float, 0.8, "Fraction of the examples in the train split; the rest is test.", gt=0, lt=1
        ),
        "sequence_length": Param(int, 40, "Steps per signal after the final resampling.", ge=12),
        "shuffle_sequence": Param(
            bool, False, "Permute the time steps (one fixed permutation for all examples), removing spatial structure."
        ),
        "corr_noise_scale": Param(float, 0.25, "Scale of the smooth (Gaussian-filtered) background noise.", ge=0),
        "iid_noise_scale": Param(float, 0.02, "Scale of the per-step white noise.", ge=0),
    },
    check_params={"num_samples": 500},
)
