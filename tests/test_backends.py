"""The core on other Keras backends and on several devices, each in a fresh subprocess.

A Keras backend is chosen once per process (KERAS_BACKEND), and so are the
logical devices, so every check here runs its own Python. The JAX checks hide
TensorFlow from the child process, as on a GPU machine that has none.
"""

import importlib.util
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PATTERN = "the cat sat on the mat. a dog ran to the log. "
VOCAB = len(set(PATTERN))

needs_jax = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None and not os.environ.get("CI"),
    reason="JAX is not installed (pip install -r requirements-dev.txt); CI always runs this")

# Shared by the child scripts: a pattern corpus and a tiny model that learns it in seconds.
PRELUDE = textwrap.dedent(f"""
    import json, math, sys
    from pathlib import Path
    out = Path(sys.argv[1])
    corpus = out / "pattern.txt"
    corpus.write_text({PATTERN!r} * 120, encoding="utf-8")

    def tiny(**overrides):
        from textgen.config import resolve_config
        settings = dict(layers=1, units=32, embedding_dim=16, seq_len=16, batch_size=16,
                        dropout=0.0, learning_rate=1e-2, seed=3, time_budget=0, epochs=3,
                        eval_every_s=1.0, sample_every_s=1.0)
        settings.update(overrides)
        return resolve_config("quick", **settings)

    def weights(run):
        import numpy as np
        with np.load(out / run / "checkpoint" / "state.npz") as data:
            return [data[k] for k in sorted(data.files, key=lambda k: (k[0], int(k[1:])))]
""")

HIDE_TENSORFLOW = textwrap.dedent("""
    import sys
    sys.modules["tensorflow"] = None  # `import tensorflow` now fails, as where it is not installed
""")


def run_child(tmp_path, script, env=None, timeout=240, args=()):
    """Run ``script`` in a fresh Python; it prints one JSON line last, which this returns."""
    child_env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path), *args], cwd=ROOT,
                          env=child_env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-5000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def skip_without(backend):
    if importlib.util.find_spec(backend) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{backend} must be installed in CI (requirements-dev.txt)")
        pytest.skip(f"{backend} is not installed (pip install -r requirements-dev.txt); CI always runs this")


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_train_sample_and_score_without_tensorflow(tmp_path, backend):
    skip_without(backend)
    script = HIDE_TENSORFLOW + PRELUDE + textwrap.dedent("""
        import numpy as np
        import keras
        import textgen
        from textgen.training import train
        from textgen.models import build_model
        from textgen.sampling import Sampler
        from textgen import files, runs
        assert keras.backend.backend() == sys.argv[2]

        # With a sequence-length warm-up: the windows change shape for the last tenth.
        status = train([str(corpus)], out / "run", tiny(epochs=6, eval_every_s=0.0, short_seq_len=8),
                   log=lambda m: None)
        run = textgen.load_run(out / "run")
        text = run.generate("the ", length=80, seed=1)
        greedy = run.generate("the cat ", length=40, temperature=0)
        score = run.evaluate()
        records = files.read_jsonl(out / "run" / "metrics.jsonl")[0]

        # A sampler made before the weights change must see the new ones (jax.jit would
        # otherwise have baked the old weights in as constants).
        model = build_model(run.config, run.tokenizer.vocab_size)
        early = Sampler(model, run.config)
        ids = run.tokenizer.encode("the cat ")
        before = np.concatenate(list(early.generate(ids, 40, temperature=0)), axis=1)
        model.set_weights(run.model.get_weights())
        after = np.concatenate(list(early.generate(ids, 40, temperature=0)), axis=1)
        fresh = np.concatenate(list(Sampler(run.model, run.config).generate(ids, 40, temperature=0)),
                               axis=1)
        print(json.dumps(dict(
            state=status["state"], best_val_loss=status["best_val_loss"], text=text, greedy=greedy,
            score=score, train_losses=[r["train_loss"] for r in records],
            val_losses=[r["val_loss"] for r in records if "val_loss" in r],
            backend=json.loads((out / "run" / "config.json").read_text())["backend"],
            samples=len(files.read_jsonl(out / "run" / "samples.jsonl")[0]),
            stale=bool((after == before).all()), matches_fresh=bool((after == fresh).all()),
            tensorflow_loaded=sys.modules.get("tensorflow") is not None)))
    """)
    result = run_child(tmp_path, script, {"KERAS_BACKEND": backend}, args=[backend])
    assert result["backend"] == backend and not result["tensorflow_loaded"]
    assert result["state"] == "completed"
    losses = result["train_losses"] + result["val_losses"]
    assert losses and all(math.isfinite(x) for x in losses)
    # Uniform guessing costs ln(vocab) nats per character; the pattern is nearly certain.
    assert result["best_val_loss"] < 0.35 * math.log(VOCAB)
    assert len(result["val_losses"]) >= 2
    assert result["val_losses"][-1] < result["val_losses"][0]  # scores follow the training
    assert result["score"]["nats_per_char"] == pytest.approx(result["best_val_loss"], rel=1e-4)
    assert len(result["text"]) == 80 and set(result["text"]) <= set(PATTERN)
    assert len(result["greedy"]) == 40 and set(result["greedy"]) <= set(PATTERN)
    assert result["samples"] >= 1
    assert result["matches_fresh"] and not result["stale"]


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_transformer_key_value_cache_matches_the_full_model(tmp_path, backend):
    """The cached one-token step gives the full model's logits, within the window and past
    it, and the compiled sampler decodes greedily with it, on each backend."""
    skip_without(backend)
    script = HIDE_TENSORFLOW + PRELUDE + textwrap.dedent("""
        import numpy as np
        import keras
        from keras import ops
        from textgen.config import resolve_config
        from textgen.models import build_model, make_stepper
        from textgen.sampling import Sampler
        assert keras.backend.backend() == sys.argv[2]
        config = resolve_config("quick", arch="transformer", layers=2, units=32, seq_len=8)
        model = build_model(config, 20)
        stepper = make_stepper(model, config)
        tokens = np.random.default_rng(0).integers(0, 20, size=(2, 24)).astype("int32")
        state, filled, worst = stepper.initial_state(2), 0, 0.0
        for t in range(24):
            filled = (4 if filled >= 8 else filled) + 1
            logits, state = stepper.step(tokens[:, t], state)
            full = model(tokens[:, t + 1 - filled: t + 1], training=False)[:, -1]
            worst = max(worst, float(np.abs(ops.convert_to_numpy(logits) - ops.convert_to_numpy(full)).max()))
        greedy = np.concatenate(list(Sampler(model, config).generate([1, 2], 5, temperature=0)), axis=1)[0]
        ids = [1, 2]
        for _ in range(5):
            ids.append(int(np.argmax(ops.convert_to_numpy(model(np.array([ids], "int32")))[0, -1])))
        print(json.dumps(dict(worst=worst, greedy=greedy.tolist(), full=ids[2:],
                              tensorflow_loaded=sys.modules.get("tensorflow") is not None)))
    """)
    result = run_child(tmp_path, script, {"KERAS_BACKEND": backend}, args=[backend])
    assert not result["tensorflow_loaded"]
    assert result["worst"] < 1e-4
    assert result["greedy"] == result["full"]  # the window (8) holds all 7 tokens


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_inside_views_hold_their_first_principles_without_tensorflow(tmp_path, backend):
    """textgen.inside on each backend: hidden activations are the cells stepped from a zero
    state, per-character losses average to the evaluated loss, saliency is zero from the
    target on, attention rows sum to 1 below the diagonal, and the logit lens ends at the
    model's own prediction."""
    skip_without(backend)
    script = HIDE_TENSORFLOW + PRELUDE + textwrap.dedent("""
        import numpy as np
        import keras
        from keras import ops
        import textgen
        from textgen import inside
        from textgen.training import train
        assert keras.backend.backend() == sys.argv[2]
        text = ("the cat sat on the mat. a dog ran to the log. " * 3)[:100]
        found = {}
        for arch in ("gru", "transformer"):
            train([str(corpus)], out / arch, tiny(arch=arch, layers=2, epochs=1, eval_every_s=600.0, sample_every_s=600.0), log=lambda m: None)
            run = textgen.load_run(out / arch)
            steps = len(text) if arch == "gru" else run.config["seq_len"]
            position = 10
            sal = inside.saliency(run, text, position)
            result = dict(
                surprise=inside.surprise(run, text)["nats_per_char"],
                evaluated=run.evaluate(text)["nats_per_char"],
                saliency_shape=list(sal.shape), expected_shape=[steps],
                zero_after=bool(np.all(sal[position:] == 0)),
                nonzero_before=int(np.count_nonzero(sal[:position])))
            ids = run.tokenizer.encode(text)
            if arch == "gru":
                hidden = inside.hidden_activations(run, text, 1)
                x = run.model.get_layer("embedding")(ids[:, None])
                states = [[ops.zeros((1, 32))] for _ in range(2)]
                by_hand = []
                for t in range(len(ids)):
                    h = x[t]
                    for layer in range(2):
                        h, new = run.model.get_layer(f"rnn_{layer}").cell(h, states[layer], training=False)
                        states[layer] = list(new) if isinstance(new, (list, tuple)) else [new]
                    by_hand.append(ops.convert_to_numpy(h)[0])
                result["hidden_error"] = float(np.abs(hidden - np.array(by_hand)).max())
            else:
                maps = inside.attention_maps(run, text)
                weights = maps["weights"]
                upper = np.triu(np.ones(weights.shape[-2:], bool), 1)
                result["row_error"] = float(np.abs(weights.sum(-1) - 1).max())
                result["above_diagonal"] = float(np.abs(weights[..., upper]).max())
                lens = inside.logit_lens(run, text, 12, top=1)
                logits = ops.convert_to_numpy(run.model(maps["ids"][None], training=False))[0, 12]
                result["lens_top"] = lens[-1]["top"][0][0]
                result["model_top"] = inside.token_label(run.tokenizer, int(np.argmax(logits)))
            found[arch] = result
        found["tensorflow_loaded"] = sys.modules.get("tensorflow") is not None
        print(json.dumps(found))
    """)
    result = run_child(tmp_path, script, {"KERAS_BACKEND": backend}, args=[backend])
    assert not result["tensorflow_loaded"]
    for arch in ("gru", "transformer"):
        found = result[arch]
        assert found["surprise"] == pytest.approx(found["evaluated"], abs=1e-4)
        assert found["saliency_shape"] == found["expected_shape"]
        assert found["zero_after"] and found["nonzero_before"] == 10
    assert result["gru"]["hidden_error"] < 1e-5
    assert result["transformer"]["row_error"] < 1e-5 and result["transformer"]["above_diagonal"] == 0
    assert result["transformer"]["lens_top"] == result["transformer"]["model_top"]


def test_distribute_settings_are_checked():
    import keras
    from textgen.backend import choose_parallel
    from textgen.config import resolve_config
    from textgen.errors import TextgenError

    assert resolve_config("quick")["distribute"] == "auto"
    with pytest.raises(TextgenError, match="distribute"):
        resolve_config("quick", distribute="nccl")
    other = {"tensorflow": "data_parallel", "jax": "mirrored"}.get(keras.backend.backend())
    if other:
        with pytest.raises(TextgenError, match="backend"):
            choose_parallel(other, 32)
    assert choose_parallel("off", 32).replicas == 1


def compare_parallel_script(mode):
    """Train the same seed on two devices (``mode``) and on one; print both results."""
    return PRELUDE + textwrap.dedent(f"""
        from textgen.training import train
        logs = []
        settings = dict(epochs=2, eval_every_s=1e6, sample_every_s=0)
        two = train([str(corpus)], out / "two", tiny(distribute={mode!r}, **settings), log=logs.append)
        one = train([str(corpus)], out / "one", tiny(distribute="off", **settings), log=logs.append)
        a, b = weights("two"), weights("one")
        import numpy as np
        print(json.dumps(dict(
            states=[two["state"], one["state"]], steps=[two["step"], one["step"]],
            losses=[two["best_val_loss"], one["best_val_loss"]], logs=logs,
            max_weight_diff=max(float(np.abs(x - y).max()) for x, y in zip(a, b)))))
    """)


def check_same_training(result, marker):
    assert result["states"] == ["completed", "completed"]
    assert result["steps"][0] == result["steps"][1]
    starts = [line for line in result["logs"] if line.startswith("Training ")]
    assert marker in starts[0] and marker not in starts[1]  # two devices, then one
    two, one = result["losses"]
    assert math.isfinite(two) and math.isfinite(one)
    assert two == pytest.approx(one, rel=1e-3)
    assert result["max_weight_diff"] < 1e-3  # float sums in another order: about 1e-7 here


def test_mirrored_strategy_on_two_cpus_matches_one_device(tmp_path):
    script = textwrap.dedent("""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    """) + compare_parallel_script("mirrored")
    result = run_child(tmp_path, script, {"KERAS_BACKEND": "tensorflow"})
    check_same_training(result, "data-parallel on 2 devices (mirrored)")


@needs_jax
def test_jax_data_parallel_on_two_cpus_matches_one_device(tmp_path):
    script = HIDE_TENSORFLOW + textwrap.dedent("""
        import jax
        assert len(jax.devices()) == 2, jax.devices()
    """) + compare_parallel_script("data_parallel")
    result = run_child(tmp_path, script, {
        "KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    check_same_training(result, "data-parallel on 2 devices (data_parallel)")


@needs_jax
def test_two_processes_train_in_step_like_one_job(tmp_path):
    """Two processes joined by jax.distributed (as on two machines) score, sample and stop together."""
    import socket
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    script = HIDE_TENSORFLOW + PRELUDE + textwrap.dedent("""
        import hashlib, os
        from textgen import files, runs
        from textgen.training import train
        me = os.environ["TEXTGEN_PROCESS_ID"]
        logs = []
        status = train([str(corpus)], out / f"run{me}", tiny(eval_every_s=0.5, sample_every_s=0.5),
                       log=logs.append)
        records = files.read_jsonl(out / f"run{me}" / "metrics.jsonl")[0]
        print(json.dumps(dict(
            state=status["state"], step=status["step"], loss=status["best_val_loss"], logs=logs,
            scored=[r["step"] for r in records if "val_loss" in r],
            sampled=[r["step"] for r in files.read_jsonl(out / f"run{me}" / "samples.jsonl")[0]],
            weights=hashlib.sha256(b"".join(w.tobytes() for w in weights(f"run{me}"))).hexdigest())))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "jax",
           "TEXTGEN_COORDINATOR": f"localhost:{port}", "TEXTGEN_NUM_PROCESSES": "2"}
    # Output goes to files, not pipes: process 0 waits at exit for the others to leave the
    # job, so a child blocked on a full pipe would hold up both.
    outputs = [(tmp_path / f"out{i}.txt", tmp_path / f"err{i}.txt") for i in range(2)]
    children = []
    try:
        for i, (out, err) in enumerate(outputs):
            with open(out, "w") as stdout, open(err, "w") as stderr:
                children.append(subprocess.Popen(
                    [sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, stdout=stdout,
                    stderr=stderr, env={**env, "TEXTGEN_PROCESS_ID": str(i)}))
        for child in children:
            child.wait(timeout=180)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    results = []
    for child, (out, err) in zip(children, outputs):
        assert child.returncode == 0, (out.read_text()[-3000:], err.read_text()[-5000:])
        results.append(json.loads(out.read_text().strip().splitlines()[-1]))
    first, second = results
    assert "data-parallel on 2 devices in 2 processes" in first["logs"][0]
    assert first["state"] == second["state"] == "completed"
    for key in ("step", "loss", "scored", "sampled", "weights"):
        assert first[key] == second[key], key  # the same job, step for step
    assert math.isfinite(first["loss"]) and first["loss"] < 0.5 * math.log(VOCAB)
