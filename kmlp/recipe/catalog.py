"""Keras optimizers, losses and metrics a recipe may name, with their arguments, known without importing keras.

``kmlp validate`` must not import keras, yet should reject ``[optimizer] momentun = 0.9`` with a suggestion.
So the arguments of Keras's classes are written down here; ``tests/test_catalog.py`` compares this table with
the installed keras and fails when they drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from kmlp.recipe.params import Param


def _f(default: float | None, doc: str = "", **bounds: float) -> Param:
    return Param(float, default, doc, **bounds)


#: Arguments every Keras optimizer accepts (``keras.optimizers.Optimizer``).
_OPTIMIZER_COMMON: dict[str, Param] = {
    "weight_decay": _f(None, "Decoupled weight decay; unset for none.", ge=0),
    "clipnorm": _f(None, "Clip each gradient to this norm.", gt=0),
    "clipvalue": _f(None, "Clip each gradient element to [-clipvalue, clipvalue].", gt=0),
    "global_clipnorm": _f(None, "Clip all gradients together to this global norm.", gt=0),
    "use_ema": Param(bool, False, "Keep an exponential moving average of the weights."),
    "ema_momentum": _f(0.99, "Momentum of the weight EMA.", ge=0, le=1),
    "ema_overwrite_frequency": Param(int, None, "Copy the EMA into the weights every N steps.", ge=1),
    "loss_scale_factor": _f(None, "Multiply the loss by this before computing gradients.", gt=0),
    "gradient_accumulation_steps": Param(int, None, "Accumulate gradients over N steps.", ge=1),
}

_LR = "Learning rate."


def _optimizer(learning_rate: float, **specific: Param) -> dict[str, Param]:
    return {"learning_rate": _f(learning_rate, _LR, gt=0), **specific, **_OPTIMIZER_COMMON}


_BETA_1 = _f(0.9, "Decay rate of the first-moment estimate.", ge=0, lt=1)
_BETA_2 = _f(0.999, "Decay rate of the second-moment estimate.", ge=0, lt=1)
_EPSILON = _f(1e-7, "Small constant for numerical stability.", gt=0)

OPTIMIZERS: dict[str, dict[str, Param]] = {
    "sgd": _optimizer(
        0.01,
        momentum=_f(0.0, "Momentum that accelerates SGD in the relevant direction.", ge=0),
        nesterov=Param(bool, False, "Use Nesterov momentum."),
    ),
    "adam": _optimizer(
        0.001, beta_1=_BETA_1, beta_2=_BETA_2, epsilon=_EPSILON, amsgrad=Param(bool, False, "Use AMSGrad.")
    ),
    "adamw": {
        **_optimizer(
            0.001,
            beta_1=_BETA_1,
            beta_2=_BETA_2,
            epsilon=_EPSILON,
            amsgrad=Param(bool, False, "Use AMSGrad."),
        ),
        "weight_decay": _f(0.004, "Decoupled weight decay.", ge=0),
    },
    "adamax": _optimizer(0.001, beta_1=_BETA_1, beta_2=_BETA_2, epsilon=_EPSILON),
    "nadam": _optimizer(0.001, beta_1=_BETA_1, beta_2=_BETA_2, epsilon=_EPSILON),
    "rmsprop": _optimizer(
        0.001,
        rho=_f(0.9, "Discounting factor for the gradient history.", ge=0, lt=1),
        momentum=_f(0.0, "Momentum.", ge=0),
        epsilon=_EPSILON,
        centered=Param(bool, False, "Normalise by the estimated variance of the gradient."),
    ),
    "adagrad": _optimizer(
        0.001,
        initial_accumulator_value=_f(0.1, "Starting value of the accumulators.", ge=0),
        epsilon=_EPSILON,
    ),
    "adadelta": _optimizer(0.001, rho=_f(0.95, "Decay rate.", ge=0, lt=1), epsilon=_EPSILON),
    "adafactor": _optimizer(
        0.001,
        beta_2_decay=_f(-0.8, "Decay rate of beta_2."),
        epsilon_1=_f(1e-30, "Regularisation of the squared gradient.", gt=0),
        epsilon_2=_f(0.001, "Regularisation of the parameter scale.", gt=0),
        clip_threshold=_f(1.0, "Threshold of the update clipping.", gt=0),
        relative_step=Param(bool, True, "Scale the learning rate by 1/sqrt(step)."),
    ),
    "ftrl": _optimizer(
        0.001,
        learning_rate_power=_f(-0.5, "Power of the learning-rate decay.", le=0),
        initial_accumulator_value=_f(0.1, "Starting value of the accumulators.", ge=0),
        l1_regularization_strength=_f(0.0, "L1 regularisation.", ge=0),
        l2_regularization_strength=_f(0.0, "L2 regularisation.", ge=0),
        l2_shrinkage_regularization_strength=_f(0.0, "L2 shrinkage regularisation.", ge=0),
        beta=_f(0.0, "Beta value from the FTRL paper.", ge=0),
    ),
    "lion": _optimizer(0.001, beta_1=_BETA_1, beta_2=_f(0.99, "Decay rate of the momentum.", ge=0, lt=1)),
}


@dataclass(frozen=True)
class LossInfo:
    """A loss, its arguments, and the label encoding it needs (``sparse`` ids or ``one_hot`` vectors)."""

    params: dict[str, Param]
    labels: str


# Architectures output logits (the plugin contract), so kmlp defaults ``from_logits`` to true.
_FROM_LOGITS = Param(bool, True, "The model outputs logits (every kmlp architecture does).")
_LABEL_SMOOTHING = _f(0.0, "Mix one-hot targets with the uniform distribution by this much.", ge=0, le=1)

LOSSES: dict[str, LossInfo] = {
    "sparse_categorical_crossentropy": LossInfo(
        {"from_logits": _FROM_LOGITS, "ignore_class": Param(int, None, "Label id that does not count.")},
        labels="sparse",
    ),
    "categorical_crossentropy": LossInfo(
        {"from_logits": _FROM_LOGITS, "label_smoothing": _LABEL_SMOOTHING}, labels="one_hot"
    ),
    "categorical_focal_crossentropy": LossInfo(
        {
            "from_logits": _FROM_LOGITS,
            "label_smoothing": _LABEL_SMOOTHING,
            "alpha": _f(0.25, "Weighting factor of the focal term.", ge=0, le=1),
            "gamma": _f(2.0, "Focusing parameter.", ge=0),
        },
        labels="one_hot",
    ),
}

#: Metric names ``model.compile`` accepts, and the label encoding each needs (``None``: either).
METRICS: dict[str, str | None] = {
    "accuracy": None,
    "sparse_categorical_accuracy": "sparse",
    "sparse_top_k_categorical_accuracy": "sparse",
    "categorical_accuracy": "one_hot",
    "top_k_categorical_accuracy": "one_hot",
}
