"""What kmlp reads to list, show and validate these architectures. Imports no keras: the builders do."""

from __future__ import annotations

from kmlp.api import ArchitectureSpec, Param

_TOKENS = (
    "The input is cut into patch_size-wide patches along each spatial axis (a 1-D signal, a grey image "
    "(H, W) or an image (H, W, C)); each patch becomes one token."
)


def _common(depth: int) -> dict[str, Param]:
    return {
        "patch_size": Param(int, 4, f"Side of a patch, in input steps or pixels. {_TOKENS}", ge=1),
        "hidden_dim": Param(int, 64, "Channels per token, kept through every block.", ge=1),
        "depth": Param(int, depth, "Number of blocks.", ge=1),
        "dropout": Param(float, 0.0, "Dropout inside every MLP (0 disables it).", ge=0, lt=1),
    }


# Small settings the conformance kit builds, trains and saves on every backend in seconds.
_CHECK = {"patch_size": 4, "hidden_dim": 16, "depth": 1}

MLP_MIXER = ArchitectureSpec(
    summary="MLP-Mixer (Tolstikhin et al., 2021): per-patch embedding, then blocks that mix across tokens and "
    "across channels with MLPs only.",
    builder="kmlp_mixer.models:build_mlp_mixer",
    params={
        **_common(depth=4),
        "tokens_mlp_dim": Param(int, 64, "Hidden units of the token-mixing MLP (shared by all channels).", ge=1),
        "channels_mlp_dim": Param(int, 128, "Hidden units of the channel-mixing MLP (shared by all tokens).", ge=1),
    },
    check_params={**_CHECK, "tokens_mlp_dim": 8, "channels_mlp_dim": 16},
)

RESMLP = ArchitectureSpec(
    summary="ResMLP (Touvron et al., 2021): a linear layer across patches and an MLP across channels, with "
    "Affine layers instead of normalisation and LayerScale on each residual branch.",
    builder="kmlp_mixer.models:build_resmlp",
    params={
        **_common(depth=4),
        "mlp_ratio": Param(int, 4, "Hidden units of the channel MLP, as a multiple of hidden_dim.", ge=1),
        "layerscale_init": Param(
            float, 0.1, "Initial scale of each residual branch (the paper uses 0.1 for shallow models).", gt=0
        ),
    },
    check_params={**_CHECK, "mlp_ratio": 2},
)
