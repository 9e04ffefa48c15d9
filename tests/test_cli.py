"""The CLI contract (design.md): ``python -m textgen ...`` run as a user would run it.

Every command is a fresh Python process that imports TensorFlow (a few seconds each), so
the commands run concurrently, once per module, and the tests check their results.
"""

import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PATTERN = "the cat sat on the mat. a dog ran to the log. "
TINY = ["--preset", "quick", "--layers", "1", "--units", "32", "--embedding-dim", "16",
        "--seq-len", "16", "--batch-size", "16", "--learning-rate", "0.01", "--epochs", "2",
        "--time-budget", "0", "--seed", "3"]
SEPARATOR = "-" * 40


def run_cli(args, home):
    env = {k: v for k, v in os.environ.items() if k != "TEXTGEN_QUEUE_DIR"}
    env["TEXTGEN_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "textgen", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def run_all(commands: dict, home) -> dict:
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = {name: pool.submit(run_cli, args, home) for name, args in commands.items()}
        return {name: f.result() for name, f in futures.items()}


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    """Runs every command once; returns (results by name, paths)."""
    tmp = tmp_path_factory.mktemp("cli")
    corpus = tmp / "pattern.txt"
    corpus.write_text(PATTERN * 120, encoding="utf-8")
    png = tmp / "photo.txt"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    empty = tmp / "empty.txt"
    empty.write_bytes(b"")
    not_a_run = tmp / "just-a-folder"
    not_a_run.mkdir()
    (not_a_run / "notes.txt").write_text("hello")
    root = tmp / "runs"
    run = root / "tiny-run"
    out = tmp / "never-created"

    train_errors = {
        "missing corpus": [tmp / "no-such-file.txt"],
        "png renamed .txt": [png],
        "empty file": [empty],
        "seq-len -5": [corpus, "--seq-len", "-5"],
        "seq-len 0": [corpus, "--seq-len", "0"],
        "learning-rate nan": [corpus, "--learning-rate", "nan"],
        "dropout 2": [corpus, "--dropout", "2"],
        "batch-size abc": [corpus, "--batch-size", "abc"],
        "epochs 1e9": [corpus, "--epochs", "1e9"],
        "unknown preset": [corpus, "--preset", "turbo"],
        "unknown tokenizer": [corpus, "--tokenizer", "sentencepiece"],
        "unknown distribute": [corpus, "--distribute", "nccl"],
        "max-vocab 1": [corpus, "--max-vocab", "1"],
    }
    first = {name: ["train", *extra[:1], "--out", out, *TINY, *extra[1:]]
             for name, extra in train_errors.items()}
    first["unknown preset"] = ["train", corpus, "--out", out, "--preset", "turbo"]
    first.update({
        "train": ["train", corpus, "--out", run, *TINY],
        "train subword": ["train", corpus, "--out", root / "subword-run", *TINY, "--tokenizer", "bpe",
                          "--max-vocab", "40", "--distribute", "off"],
        "generate on a folder that is not a run": ["generate", not_a_run, "--length", "5"],
        "evaluate a missing run": ["evaluate", tmp / "missing-run"],
        "no subcommand": [],
    })
    results = run_all(first, tmp)
    trained = results["train"]
    assert trained.returncode == 0, trained.stderr[-3000:]

    before = snapshot(run)
    second = {
        "train into an existing run": ["train", corpus, "--out", run, *TINY],
        "prompt with unseen characters": ["generate", run, "--prompt", "the QUIZ", "--length", "5"],
        "negative temperature": ["generate", run, "--temperature", "-1"],
        "temperature abc": ["generate", run, "--temperature", "abc"],
        "top-k 1.5": ["generate", run, "--top-k", "1.5"],
        "seed 1": ["generate", run, "--prompt", "the ", "--length", "50", "--seed", "1"],
        "seed 1 again": ["generate", run, "--prompt", "the ", "--length", "50", "--seed", "1"],
        "greedy": ["generate", run, "--prompt", "the ", "--length", "50", "--temperature", "0"],
        "greedy again": ["generate", run, "--prompt", "the ", "--length", "50", "--temperature", "0"],
        "three samples": ["generate", run, "--prompt", "a ", "--length", "30", "--seed", "2",
                          "--num-samples", "3"],
        "evaluate": ["evaluate", run],
        "evaluate a corpus": ["evaluate", run, corpus],
        "runs": ["runs", "--root", root],
        "evaluate subword": ["evaluate", root / "subword-run"],
        "generate subword": ["generate", root / "subword-run", "--prompt", "the ", "--length", "40",
                             "--seed", "1"],
    }
    results.update(run_all(second, tmp))
    after = snapshot(run)
    return results, dict(tmp=tmp, corpus=corpus, run=run, root=root, out=out,
                         before=before, after=after)


# --- bad input: exit status 2, one "error: ..." line, no traceback ----------------------------

BAD_INPUT = ["missing corpus", "png renamed .txt", "empty file", "seq-len -5", "seq-len 0",
             "learning-rate nan", "dropout 2", "batch-size abc", "epochs 1e9", "unknown preset",
             "unknown tokenizer", "unknown distribute", "max-vocab 1",
             "train into an existing run", "generate on a folder that is not a run",
             "prompt with unseen characters", "negative temperature", "evaluate a missing run",
             "temperature abc", "top-k 1.5",
             "no subcommand"]


def error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


@pytest.mark.parametrize("name", BAD_INPUT)
def test_bad_input_exits_2_with_one_error_line(cli, name):
    results, _ = cli
    result = results[name]
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    line = error_line(result)
    assert len(line) > len("error: ") + 10
    # Nothing else either: no start-up notes from TensorFlow around the one sentence.
    assert [l for l in result.stderr.splitlines() if l.strip()] == [line], result.stderr[-3000:]
    assert "unexpected failure" not in line


@pytest.mark.parametrize("name,words", [
    ("missing corpus", ["no-such-file.txt"]),
    ("png renamed .txt", ["PNG"]),
    ("empty file", ["empty"]),
    ("seq-len -5", ["seq len", "-5"]),
    ("seq-len 0", ["seq len"]),
    ("learning-rate nan", ["learning rate", "nan"]),
    ("dropout 2", ["dropout"]),
    ("batch-size abc", ["batch-size", "abc"]),
    ("epochs 1e9", ["epochs", "1e9"]),
    ("unknown preset", ["turbo"]),
    ("unknown tokenizer", ["sentencepiece", "bpe"]),
    ("unknown distribute", ["nccl", "data_parallel"]),
    ("max-vocab 1", ["max vocab", "2"]),
    ("train into an existing run", ["--resume"]),
    ("generate on a folder that is not a run", ["not a run"]),
    ("prompt with unseen characters", ['"Q"', '"U"', '"I"', '"Z"']),
    ("negative temperature", ["temperature"]),
    ("temperature abc", ["temperature", "from 0", "to 10"]),
    ("top-k 1.5", ["top-k", "whole number"]),
    ("evaluate a missing run", ["missing-run"]),
])
def test_error_messages_name_the_problem(cli, name, words):
    results, _ = cli
    line = error_line(results[name])
    for word in words:
        assert word in line, line


def test_failed_trains_leave_no_run_folder(cli):
    _, paths = cli
    assert not paths["out"].exists()


def test_a_refused_train_leaves_the_existing_run_untouched(cli):
    _, paths = cli
    assert paths["after"] == paths["before"]
    assert "model.keras" in paths["before"]


# --- success paths -----------------------------------------------------------------------------


def test_train_creates_the_run_folder(cli):
    results, paths = cli
    run = paths["run"]
    for name in ("config.json", "tokenizer.json", "model.keras", "metrics.jsonl", "status.json",
                 "samples.jsonl"):
        assert (run / name).is_file(), name
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "completed"
    assert math.isfinite(status["best_val_loss"]) and status["step"] > 0
    config = json.loads((run / "config.json").read_text())
    assert config["layers"] == 1 and config["units"] == 32 and config["seq_len"] == 16
    assert config["arch"] == "gru" and config["tokenizer"] == "char"
    assert config["corpus"]["sha256"] and config["keras_version"] and config["backend"]
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics and all("step" in m and "train_loss" in m and "time" in m for m in metrics)
    assert any("val_loss" in m for m in metrics)
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert samples and all(isinstance(s["text"], str) and "step" in s for s in samples)
    assert "Traceback" not in results["train"].stderr


def generated(result) -> str:
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.endswith("\n")
    return result.stdout[:-1]


def test_generate_prints_the_continuation(cli):
    results, _ = cli
    text = generated(results["seed 1"])
    assert len(text) == 50  # the corpus has no line breaks, so the output is the text alone
    assert set(text) <= set(PATTERN)


def test_generate_with_the_same_seed_repeats(cli):
    results, _ = cli
    assert generated(results["seed 1"]) == generated(results["seed 1 again"])


def test_greedy_generation_repeats(cli):
    results, _ = cli
    text = generated(results["greedy"])
    assert len(text) == 50 and text == generated(results["greedy again"])


def test_num_samples_prints_each_sample(cli):
    results, _ = cli
    out = generated(results["three samples"])
    samples = [part.strip("\n") for part in out.split(SEPARATOR)]
    assert len(samples) == 3, out
    assert all(len(s) == 30 and s.strip() for s in samples), samples


def test_evaluate_prints_one_json_object(cli):
    results, paths = cli
    result = results["evaluate"]
    assert result.returncode == 0, result.stderr[-3000:]
    score = json.loads(result.stdout)
    assert {"nats_per_char", "bits_per_char", "perplexity", "chars", "tokens"} <= set(score)
    assert score["bits_per_char"] == pytest.approx(score["nats_per_char"] / math.log(2), rel=1e-12)
    assert score["perplexity"] > 1 and score["nats_per_char"] > 0
    held_out = len(PATTERN * 120) - math.floor(len(PATTERN * 120) * 0.9)
    assert score["tokens"] == held_out and score["chars"] == held_out - 1
    status = json.loads((paths["run"] / "status.json").read_text())
    assert score["nats_per_char"] == pytest.approx(status["best_val_loss"], rel=1e-4)


def test_evaluate_a_corpus_file(cli):
    results, _ = cli
    result = results["evaluate a corpus"]
    assert result.returncode == 0, result.stderr[-3000:]
    score = json.loads(result.stdout)
    assert score["chars"] == len(PATTERN * 120) - 1 and score["tokens"] == len(PATTERN * 120)
    assert score["bits_per_char"] == pytest.approx(score["nats_per_char"] / math.log(2))


def test_subword_run_is_scored_per_character(cli):
    results, paths = cli
    run = paths["root"] / "subword-run"
    assert results["train subword"].returncode == 0, results["train subword"].stderr[-3000:]
    config = json.loads((run / "config.json").read_text())
    assert config["tokenizer"] == "bpe" and config["max_vocab"] == 40 and config["vocab_size"] <= 40
    assert config["distribute"] == "off"
    subword = json.loads(results["evaluate subword"].stdout)
    char = json.loads(results["evaluate"].stdout)
    # Both cover the same held-out characters (less the first token); subwords need fewer tokens.
    assert char["chars"] - 10 < subword["chars"] <= char["chars"]
    assert subword["tokens"] < subword["chars"] / 2
    status = json.loads((run / "status.json").read_text())
    assert subword["nats_per_char"] == pytest.approx(status["best_val_loss"], rel=1e-4)
    # The training curve is per character too: its first step, near ln(vocab) nats per token
    # for an untrained model, is logged divided by the tokens' mean length (over 2 characters).
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics[0]["step"] == 1 and metrics[0]["train_loss"] < math.log(config["vocab_size"]) / 2
    text = generated(results["generate subword"])
    assert len(text) >= 40 and set(text) <= set(PATTERN)


def test_runs_lists_the_run_with_its_state_and_best_loss(cli):
    results, paths = cli
    result = results["runs"]
    assert result.returncode == 0, result.stderr[-3000:]
    status = json.loads((paths["run"] / "status.json").read_text())
    rows = [line.split() for line in result.stdout.splitlines()]
    row = next(r for r in rows if r and r[0] == "tiny-run")
    assert row[1] == "completed"
    assert float(row[2]) == pytest.approx(status["best_val_loss"], abs=1e-4)


def test_runs_on_an_empty_root(tmp_path):
    result = run_cli(["runs", "--root", tmp_path / "nothing-here"], tmp_path)
    assert result.returncode == 0 and result.stdout.strip()
    assert "Traceback" not in result.stderr
