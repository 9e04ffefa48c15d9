"""The networks: stacked GRU/LSTM and a small causal Transformer.

Each model maps token ids (batch, time) to float32 logits (batch, time, vocab)
and trains on next-token prediction at every position. Each also offers a
one-token ``step`` used by the compiled sampler: the RNNs carry their hidden
state, the Transformer its key/value cache.
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
    """Feeds one token at a time through a trained model, carrying state between steps.

    ``initial_state(batch)`` is the state before the first token; ``step(token, state,
    weights)`` takes token ids (batch,) int32 and returns (logits (batch, vocab), the new
    state). ``weights`` is what ``prepare()`` returns, read once before a compiled loop of
    steps (None: read at the step). ``make_stepper`` picks the kind a model needs.
    """

    def __init__(self, model: keras.Model, config: dict):
        self.model, self.config = model, config
        self.embedding = model.get_layer("embedding")
        self.body = body_layers(model)
        self.head = model.get_layer("logits")

    def prepare(self):
        return None


class RecurrentStepper(Stepper):
    """A GRU or LSTM carries its hidden state (and an LSTM its cell state) from token to token."""

    def initial_state(self, batch: int):
        units = self.config["units"]
        per_layer = 1 if self.config["arch"] == "gru" else 2
        return [[ops.zeros((batch, units), dtype=layer.compute_dtype) for _ in range(per_layer)]
                for layer in self.body]

    def step(self, token, state, weights=None):
        x = self.embedding(token)
        new_state = []
        for layer, layer_state in zip(self.body, state):
            x, s = layer.cell(x, layer_state, training=False)
            new_state.append(list(s) if isinstance(s, (list, tuple)) else [s])
        return self.head(x), new_state


class CachedTransformerStepper(Stepper):
    """The Transformer with a key/value cache: each step computes one position and attends
    to the keys and values every layer kept for the positions before it, instead of
    recomputing the whole window (the design of keras-hub's CachedMultiHeadAttention and of
    GPT-2's ``past`` in Radford et al., 2019).

    State: the window of token ids (batch, seq_len), how many of its slots are filled, and
    per layer the keys and the values (batch, seq_len, heads, head size). While the text
    fits the window a step gives the logits the full model gives at that position. When
    the window is full it slides by half: the newest ``seq_len // 2`` tokens move to the
    front and their keys and values are computed again at their new positions (learned
    position embeddings make the old ones wrong), so every prediction is the full model's
    on the latest ``seq_len // 2 + 1`` to ``seq_len`` tokens (``cached_context``), at one
    full-window pass per ``seq_len // 2`` steps.
    """

    def __init__(self, model: keras.Model, config: dict):
        super().__init__(model, config)
        self.final_norm = model.get_layer("final_norm")
        self.size = config["seq_len"]
        self.keep = kept_on_slide(self.size)

    def initial_state(self, batch: int):
        attention = self.body[0].attention
        shape = (batch, self.size, attention.num_heads, attention.key_dim)
        dtype = self.body[0].compute_dtype
        return [ops.zeros((batch, self.size), dtype="int32"), ops.zeros((), dtype="int32"),
                [ops.zeros(shape, dtype=dtype) for _ in self.body],
                [ops.zeros(shape, dtype=dtype) for _ in self.body]]

    def prepare(self):
        """Per layer the attention's query, key, value and output weights as matrices and
        bias vectors. Read once before a compiled loop: reshaping a (width, heads, head size)
        variable inside an XLA loop is redone at every step and costs more than the product."""
        prepared = []
        for block in self.body:
            attention = block.attention
            width = attention._query_dense.kernel.shape[0]
            flat = [(ops.reshape(dense.kernel, (width, -1)), ops.reshape(dense.bias, (-1,)))
                    for dense in (attention._query_dense, attention._key_dense, attention._value_dense)]
            output = attention._output_dense
            prepared.append((*flat, (ops.reshape(output.kernel, (-1, width)), output.bias)))
        return prepared

    def attend(self, block, weights, x, keys, values, here, seen):
        """One block on ``x`` (batch, T, width), as TransformerBlock computes it for those
        positions; returns (x, keys, values). With ``here`` (a slot, int32), T is 1 and the
        position's key and value go into the cache ``keys``/``values`` at that slot; with
        None, T is seq_len and they are the cache. ``seen`` (batch, heads, T, seq_len)
        says which slots each position attends to. ``weights``: this block's from prepare."""
        query, key, value, output = weights
        attention = block.attention
        heads, size = attention.num_heads, attention.key_dim
        batch, steps = ops.shape(x)[0], ops.shape(x)[1]
        h = ops.reshape(block.norm1(x), (batch * steps, -1))

        def project(pair):
            return ops.reshape(ops.matmul(h, pair[0]) + pair[1], (batch, steps, heads, size))

        if here is None:
            keys, values = project(key), project(value)
        else:  # in place in the cache (XLA updates the buffer rather than copying it)
            start = (0, here, 0, 0)
            keys, values = ops.slice_update(keys, start, project(key)), ops.slice_update(values, start, project(value))
        attended = ops.dot_product_attention(project(query), keys, values, mask=seen,
                                             scale=attention._inverse_sqrt_key_dim)
        attended = ops.matmul(ops.reshape(attended, (batch * steps, heads * size)), output[0]) + output[1]
        x = x + ops.reshape(attended, (batch, steps, -1))
        return x + block.project(block.expand(block.norm2(x))), keys, values

    def seen(self, visible, batch):
        """``visible`` (T, seq_len) as attention's mask for every sequence and head."""
        heads = self.body[0].attention.num_heads
        return ops.broadcast_to(visible[None, None], (batch, heads, *ops.shape(visible)))

    def prefill(self, window, weights):
        """Every layer's keys and values for the tokens ``window`` (batch, seq_len) at
        their positions in it: two lists of (batch, seq_len, heads, head size)."""
        x = self.embedding(window)
        slots = ops.arange(self.size)
        seen = self.seen(slots[None, :] <= slots[:, None], ops.shape(window)[0])
        keys, values = [], []
        for block, block_weights in zip(self.body, weights):
            x, block_keys, block_values = self.attend(block, block_weights, x, None, None, None, seen)
            keys.append(block_keys)
            values.append(block_values)
        return keys, values

    def step(self, token, state, weights=None):
        window, filled, keys, values = state
        prepared = self.prepare() if weights is None else weights

        def slide():
            kept = ops.roll(window, self.keep - self.size, axis=1)  # the newest tokens first
            return (kept, ops.convert_to_tensor(self.keep, "int32"), *self.prefill(kept, prepared))

        def stay():
            return window, filled, list(keys), list(values)

        window, filled, keys, values = ops.cond(filled >= self.size, slide, stay)
        keys, values = list(keys), list(values)
        slots = ops.arange(self.size)
        token = ops.cast(token, "int32")
        window = ops.where(slots[None, :] == filled, token[:, None], window)
        x = self.embedding.tokens(token)[:, None, :] + self.embedding.positions(filled)[None, None, :]
        here = filled
        seen = self.seen((slots <= filled)[None, :], ops.shape(token)[0])
        for i, block in enumerate(self.body):
            x, keys[i], values[i] = self.attend(block, prepared[i], x, keys[i], values[i], here, seen)
        logits = self.head(self.final_norm(x))[:, 0]
        return logits, [window, filled + 1, keys, values]


def kept_on_slide(window: int) -> int:
    """Tokens the key/value cache keeps when its window of ``window`` slots is full: half."""
    return max(1, window // 2)


def cached_context(tokens: int, window: int) -> int:
    """How many of the latest of ``tokens`` tokens fed in the Transformer reads when it
    predicts the next (CachedTransformerStepper): all of them while they fit its window,
    then from ``kept_on_slide(window) + 1`` up to ``window``."""
    keep = kept_on_slide(window)
    if tokens <= window:
        return tokens
    return keep + (tokens - window - 1) % max(window - keep, 1) + 1


def make_stepper(model: keras.Model, config: dict) -> Stepper:
    """The one-token stepper for ``model`` built from ``config`` (see Stepper)."""
    kind = CachedTransformerStepper if config["arch"] == "transformer" else RecurrentStepper
    return kind(model, config)


def load_weights(model: keras.Model, path) -> None:
    """Read only the weights of a saved model.keras into ``model``: no code from the file runs."""
    import warnings
    with warnings.catch_warnings():
        # model.keras holds no optimizer state; a compiled model would warn about that.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(path)
