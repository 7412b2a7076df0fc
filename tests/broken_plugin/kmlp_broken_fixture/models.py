"""Builders with known faults."""

import keras


class Doubling(keras.layers.Layer):
    """A custom layer that is not registered as serializable."""

    def call(self, x):
        return x * 2.0


def _dense_stack(input_shape, width):
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    return inputs, keras.layers.Dense(width, activation="relu")(x)


def build_unsaveable(*, input_shape, num_outputs, width):
    inputs, x = _dense_stack(input_shape, width)
    return keras.Model(inputs, keras.layers.Dense(num_outputs, dtype="float32")(Doubling()(x)))


def build_without_width(*, input_shape, num_outputs):
    inputs, x = _dense_stack(input_shape, 4)
    return keras.Model(inputs, keras.layers.Dense(num_outputs)(x))


def build_seven_outputs(*, input_shape, num_outputs):
    inputs, x = _dense_stack(input_shape, 4)
    return keras.Model(inputs, keras.layers.Dense(7)(x))


@keras.saving.register_keras_serializable(package="kmlp_broken_fixture")
class BatchCentring(keras.layers.Layer):
    """Subtracts the batch mean, also at inference: an example's output depends on its batch."""

    def call(self, x):
        return x - keras.ops.mean(x, axis=0, keepdims=True)


def build_probabilities(*, input_shape, num_outputs):
    inputs, x = _dense_stack(input_shape, 4)
    x = keras.layers.Dense(num_outputs)(BatchCentring()(x))
    return keras.Model(inputs, keras.layers.Softmax()(x))
