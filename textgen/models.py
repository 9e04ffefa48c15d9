"""The networks: stacked GRU/LSTM and a small causal Transformer.

Each model maps token ids (batch, time) to float32 logits (batch, time, vocab)
and trains on next-token prediction at every position. Each also offers a
one-token ``step`` used by the compiled sampler: the RNNs carry their hidden
state, the Transformer carries a window of the last ``seq_len`` tokens.
Everything here is ``keras.ops`` so that it runs on any Keras backend.
"""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="textgen")
class TokenAndPositionEmbedding(layers.Layer):
    """Token embedding plus a learned embedding of the position in the window."""

    def __init__(self, vocab_size, max_len, width, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.max_len, self.width = vocab_size, max_len, width
        self.tokens = layers.Embedding(vocab_size, width, name="tokens")
        self.positions = layers.Embedding(max_len, width, name="positions")

    def call(self, ids):
        positions = ops.arange(ops.shape(ids)[-1])
        return self.tokens(ids) + self.positions(positions)[None]

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size,
                "max_len": self.max_len, "width": self.width}


@keras.saving.register_keras_serializable(package="textgen")
class TransformerBlock(layers.Layer):
    """Pre-norm block: causal self-attention, then a 4x-wide MLP, each with a residual."""

    def __init__(self, width, heads, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.width, self.heads, self.dropout = width, heads, dropout
        self.norm1 = layers.LayerNormalization(epsilon=1e-5, name="norm1")
        self.attention = layers.MultiHeadAttention(
            heads, width // heads, dropout=dropout, name="attention")
        self.norm2 = layers.LayerNormalization(epsilon=1e-5, name="norm2")
        self.expand = layers.Dense(4 * width, activation="gelu", name="expand")
        self.project = layers.Dense(width, name="project")
        self.drop = layers.Dropout(dropout)

    def call(self, x, training=None):
        h = self.norm1(x)
        x = x + self.drop(self.attention(h, h, use_causal_mask=True, training=training),
                          training=training)
        h = self.project(self.expand(self.norm2(x)))
        return x + self.drop(h, training=training)

    def get_config(self):
        return {**super().get_config(), "width": self.width, "heads": self.heads,
                "dropout": self.dropout}


def build_model(config: dict, vocab_size: int) -> keras.Model:
    """The network these settings describe, built and ready to compile."""
    ids = keras.Input(shape=(None,), dtype="int32", name="ids")
    if config["arch"] == "transformer":
        width = config["units"]
        x = TokenAndPositionEmbedding(vocab_size, config["seq_len"], width, name="embedding")(ids)
        x = layers.Dropout(config["dropout"], name="embedding_dropout")(x)
        for i in range(config["layers"]):
            x = TransformerBlock(width, config["heads"], config["dropout"], name=f"block_{i}")(x)
        x = layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    else:
        rnn = layers.GRU if config["arch"] == "gru" else layers.LSTM
        x = layers.Embedding(vocab_size, config["embedding_dim"], name="embedding")(ids)
        for i in range(config["layers"]):
            x = layers.Dropout(config["dropout"], name=f"dropout_{i}")(x)
            # Default activations, no recurrent dropout and reset_after=True keep
            # the fast cuDNN kernel eligible on a GPU.
            x = rnn(config["units"], return_sequences=True, name=f"rnn_{i}")(x)
        x = layers.Dropout(config["dropout"], name="head_dropout")(x)
    logits = layers.Dense(vocab_size, dtype="float32", name="logits")(x)
    return keras.Model(ids, logits, name=f"textgen_{config['arch']}")


def body_layers(model: keras.Model) -> list:
    """The stacked layers, bottom first: RNN layers or Transformer blocks."""
    return [l for l in model.layers if l.name.startswith(("rnn_", "block_"))]


class Stepper:
    """Feeds one token at a time through a trained model, carrying state between steps."""

    def __init__(self, model: keras.Model, config: dict):
        self.model, self.config = model, config
        self.recurrent = config["arch"] != "transformer"
        self.embedding = model.get_layer("embedding")
        self.body = body_layers(model)
        self.head = model.get_layer("logits")

    def initial_state(self, batch: int):
        if self.recurrent:
            units = self.config["units"]
            per_layer = 1 if self.config["arch"] == "gru" else 2
            return [[ops.zeros((batch, units), dtype=layer.compute_dtype) for _ in range(per_layer)]
                    for layer in self.body]
        # A window of the last seq_len tokens and how many of its slots are filled.
        return [ops.zeros((batch, self.config["seq_len"]), dtype="int32"),
                ops.zeros((), dtype="int32")]

    def step(self, token, state):
        """Logits (batch, vocab) for the token after ``token``, and the new state."""
        if self.recurrent:
            x = self.embedding(token)
            new_state = []
            for layer, layer_state in zip(self.body, state):
                x, s = layer.cell(x, layer_state, training=False)
                new_state.append(list(s) if isinstance(s, (list, tuple)) else [s])
            return self.head(x), new_state
        window, filled = state
        size = self.config["seq_len"]
        # Once the window is full, slide it left by one to make room.
        shifted = ops.where(filled >= size, ops.roll(window, -1, axis=1), window)
        slot = ops.minimum(filled, size - 1)
        window = ops.where(ops.arange(size)[None, :] == slot,
                           ops.cast(token, "int32")[:, None], shifted)
        logits = self.model(window, training=False)
        return ops.take(logits, slot, axis=1), [window, ops.minimum(filled + 1, size)]


def load_weights(model: keras.Model, path) -> None:
    """Read only the weights of a saved model.keras into ``model``: no code from the file runs."""
    import warnings
    with warnings.catch_warnings():
        # model.keras holds no optimizer state; a compiled model would warn about that.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(path)
