"""A spec module that imports keras (so `kmlp list` would fix a backend) and declares a faulty schema."""

import keras  # noqa: F401  (the fault under test)

from kmlp.api import DatasetSpec, Param

NOISY_DATA = DatasetSpec(
    summary="Unseeded, mis-shaped, out-of-range, float64 data.",
    loader="kmlp_broken_fixture.data:load_noisy",
    params={
        "size": Param(int, 0, "Examples per split.", ge=1),  # its own default breaks its range
        "mode": Param(str, "a", ge=1),  # a bound on a string, and no doc
    },
    check_params={"size": 64},
)
