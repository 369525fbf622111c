"""Build the saved models `verify --model` is tested on, with real Keras, in one child.

Run as a script in a child process (`python model_fixtures.py OUT_DIR [names...]`, KERAS_BACKEND
set by the caller) so that the test process never imports Keras. Nothing is downloaded:
every model is built from layers (MobileNetV3Small with weights=None). Writes OUT_DIR/NAME.keras
(and mlp_legacy.h5), custom_layer.py (the --custom-objects file) and a truncated and a
non-model file, then prints the names it wrote as JSON.
"""

from __future__ import annotations

import json
import os
import sys

CUSTOM = '''
import keras


@keras.saving.register_keras_serializable(package="kbtest")
class Scale(keras.layers.Layer):
    """x * a learned vector + 1: a custom layer with a weight."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

    def call(self, x):
        return x * self.w + 1.0
'''

SUBCLASSED = '''
import keras


@keras.saving.register_keras_serializable(package="kbtest")
class TwoDense(keras.Model):
    """A subclassed model: its call() is Python, so Keras keeps no graph of its layers."""

    def __init__(self, units=5, **kw):
        super().__init__(**kw)
        self.units = units
        self.d1 = keras.layers.Dense(units, activation="tanh")
        self.d2 = keras.layers.Dense(2)

    def call(self, x):
        return self.d2(self.d1(x))

    def get_config(self):
        return {"units": self.units, **super().get_config()}
'''


def build(out: str, names: list[str]) -> list[str]:
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    L = keras.layers
    made = []

    def save(name, model, ext=".keras"):
        # a little away from the initial weights, so that biases and BN statistics are not trivial
        ws = [w + np.random.default_rng(1).normal(0, 0.05, w.shape).astype(w.dtype) if w.dtype.kind == "f" else w
              for w in model.get_weights()]
        model.set_weights(ws)
        model.save(os.path.join(out, name + ext))
        made.append(name + ext)

    if "mlp" in names:
        m = keras.Sequential([keras.Input((16,)), L.Dense(32, activation="relu", name="hidden"),
                              L.Dense(8, activation="tanh", name="mid"), L.Dense(3, name="head")], name="mlp")
        m.compile(optimizer="sgd", loss="mse")
        save("mlp", m)
        save("mlp_legacy", m, ".h5")
    if "cnn" in names:
        x = inp = keras.Input((16, 16, 3))
        x = L.Conv2D(8, 3, padding="same", name="conv1")(x)
        x = L.BatchNormalization(name="bn1")(x)
        x = L.Activation("relu")(x)
        x = L.MaxPooling2D(2, name="pool1")(x)
        x = L.Conv2D(8, 3, padding="valid", data_format="channels_last", name="conv2")(x)
        x = L.AveragePooling2D(2, name="pool2")(x)
        x = L.Dropout(0.3)(x)
        x = L.Permute((3, 1, 2))(x)
        x = L.Conv2D(4, 1, data_format="channels_first", name="conv_cf")(x)
        x = L.GlobalAveragePooling2D(data_format="channels_first")(x)
        out_ = L.Dense(5, activation="softmax", name="probs")(x)
        m = keras.Model(inp, out_, name="cnn")
        m.compile(optimizer="sgd", loss="categorical_crossentropy")
        save("cnn", m)
    if "rnn" in names:
        inp = keras.Input((12,), dtype="int32")
        x = L.Embedding(50, 8, mask_zero=True, name="embed")(inp)
        x = L.LSTM(8, return_sequences=True, name="lstm")(x)
        x = L.GRU(6, name="gru")(x)
        out_ = L.Dense(2, name="head")(x)
        m = keras.Model(inp, out_, name="text")
        save("rnn", m)
    if "transformer" in names:
        inp = keras.Input((10, 16))
        a = L.MultiHeadAttention(num_heads=2, key_dim=8, name="mha")(inp, inp)
        x = L.LayerNormalization(name="ln1")(L.Add()([inp, a]))
        f = L.Dense(32, activation="gelu", name="ff1")(x)
        f = L.Dense(16, name="ff2")(f)
        x = L.LayerNormalization(name="ln2")(L.Add()([x, f]))
        out_ = L.Dense(4, name="head")(L.GlobalAveragePooling1D()(x))
        m = keras.Model(inp, out_, name="encoder")
        save("transformer", m)
    if "mobilenet" in names:
        m = keras.applications.MobileNetV3Small(weights=None, input_shape=(64, 64, 3), classes=10)
        save("mobilenet", m)
    if "custom" in names:
        path = os.path.join(out, "custom_layer.py")
        with open(path, "w") as f:
            f.write(CUSTOM)
        ns: dict = {}
        exec(compile(CUSTOM, path, "exec"), ns)
        m = keras.Sequential([keras.Input((6,)), L.Dense(4, name="d"), ns["Scale"](name="scale"), L.Dense(2)])
        save("custom", m)
    if "subclassed" in names:
        path = os.path.join(out, "subclassed_model.py")
        with open(path, "w") as f:
            f.write(SUBCLASSED)
        ns = {}
        exec(compile(SUBCLASSED, path, "exec"), ns)
        m = ns["TwoDense"]()
        m(np.zeros((1, 7), "float32"))
        save("subclassed", m)
    if "lambda" in names:
        m = keras.Sequential([keras.Input((4,)), L.Dense(3), L.Lambda(lambda t: t * 2.0, name="double")])
        save("lambda", m)
    if "broken" in names:
        with open(os.path.join(out, "mlp.keras"), "rb") as f:
            data = f.read()
        with open(os.path.join(out, "truncated.keras"), "wb") as f:
            f.write(data[: len(data) // 2])
        with open(os.path.join(out, "notes.keras"), "w") as f:
            f.write("these are my notes, not a model\n")
        made += ["truncated.keras", "notes.keras"]
    return made


if __name__ == "__main__":
    print(json.dumps(build(sys.argv[1], sys.argv[2:])))
