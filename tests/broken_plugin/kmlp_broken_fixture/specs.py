"""Specs that import fine; what is wrong with each is in its summary."""

from kmlp.api import ArchitectureSpec, Param

WRONG_KIND = ArchitectureSpec(summary="Registered as a dataset, but an architecture spec.", builder="x:y")

UNSAVEABLE_NET = ArchitectureSpec(
    summary="Builds and trains, but its custom layer is not registered, so a saved model cannot be loaded.",
    builder="kmlp_broken_fixture.models:build_unsaveable",
    params={"width": Param(int, 4, "Hidden units.", ge=1)},
)

BAD_SIGNATURE_NET = ArchitectureSpec(
    summary="Declares a parameter its builder does not accept.",
    builder="kmlp_broken_fixture.models:build_without_width",
    params={"width": Param(int, 4, "Hidden units.", ge=1)},
)

WRONG_OUTPUTS_NET = ArchitectureSpec(
    summary="Ignores num_outputs: always 7 outputs.",
    builder="kmlp_broken_fixture.models:build_seven_outputs",
)

PROBABILITY_NET = ArchitectureSpec(
    summary="Ends in a softmax over batch-centred features, without a float32 output layer.",
    builder="kmlp_broken_fixture.models:build_probabilities",
)
