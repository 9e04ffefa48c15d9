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
ACCENTED = "Café naïve résumé — “quoted”. "
TINY = ["--preset", "quick", "--layers", "1", "--units", "32", "--embedding-dim", "16",
        "--seq-len", "16", "--batch-size", "16", "--learning-rate", "0.01", "--epochs", "2",
        "--time-budget", "0", "--seed", "3"]
SEPARATOR = "-" * 40
RUSSIAN = ("Мороз и солнце; день чудесный! Ещё ты дремлешь, друг прелестный — пора, красавица, "
           "проснись: открой сомкнуты негой взоры навстречу северной Авроры, звездою севера явись!\n")


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
    accented = (ACCENTED * 200).encode("utf-8")
    stray = tmp / "one-bad-byte.txt"  # UTF-8 with one Windows-1252 apostrophe inside
    stray.write_bytes(accented[:3000] + b"\x92" + accented[3000:])
    not_a_run = tmp / "just-a-folder"
    not_a_run.mkdir()
    (not_a_run / "notes.txt").write_text("hello")
    russian = tmp / "russian.txt"
    russian.write_text(RUSSIAN, encoding="utf-8")
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
        "a model too big for the machine": [corpus, "--units", "8192", "--layers", "24"],
    }
    first = {name: ["train", *extra[:1], "--out", out, *TINY, *extra[1:]]
             for name, extra in train_errors.items()}
    first["unknown preset"] = ["train", corpus, "--out", out, "--preset", "turbo"]
    first.update({
        "train": ["train", corpus, "--out", run, *TINY],
        "train a file with a stray byte": ["train", stray, "--out", tmp / "stray-run", *TINY],
        "train subword": ["train", corpus, "--out", root / "subword-run", *TINY, "--tokenizer", "bpe",
                          "--max-vocab", "40", "--distribute", "off"],
        "train word": ["train", corpus, "--out", root / "word-run", *TINY, "--tokenizer", "word",
                       "--max-vocab", "6"],
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
        "evaluate word": ["evaluate", root / "word-run"],
        "evaluate word on russian": ["evaluate", root / "word-run", russian],
        "generate word with unknown words": ["generate", root / "word-run", "--prompt",
                                             "the zebra and the unicorn", "--length", "5", "--seed", "1"],
    }
    results.update(run_all(second, tmp))
    after = snapshot(run)
    return results, dict(tmp=tmp, corpus=corpus, run=run, root=root, out=out,
                         before=before, after=after)


# --- bad input: exit status 2, one "error: ..." line, no traceback ----------------------------

BAD_INPUT = ["missing corpus", "png renamed .txt", "empty file", "seq-len -5", "seq-len 0",
             "learning-rate nan", "dropout 2", "batch-size abc", "epochs 1e9", "unknown preset",
             "unknown tokenizer", "unknown distribute", "max-vocab 1", "a model too big for the machine",
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
    # 24 GRU layers 8,192 wide: 9.46 billion parameters, far beyond any machine's memory
    ("a model too big for the machine", ["9,464,", "parameters", "GB of memory to train",
                                         "Choose fewer layers or units"]),
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
    assert {"nats_per_char", "bits_per_char", "perplexity", "chars", "tokens", "unknown_share"} <= set(score)
    assert score["unknown_share"] == 0.0  # a character model knows its whole held-out text
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


def test_generate_help_says_it_prints_the_continuation_without_the_prompt(tmp_path):
    result = run_cli(["generate", "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    help_text = " ".join(result.stdout.split())
    assert "Only the continuation is printed, not the prompt" in help_text
    assert "it is not repeated in the output" in help_text


def test_a_time_budget_of_0_on_quick_means_no_limit():
    from textgen.cli import TRAIN_SETTINGS, build_parser
    from textgen.config import resolve_config

    args = build_parser().parse_args(["train", "corpus.txt", "--out", "run", "--preset", "quick",
                                      "--time-budget", "0"])
    explicit = {k: getattr(args, k) for k in TRAIN_SETTINGS if getattr(args, k) is not None}
    assert resolve_config(args.preset, **explicit)["time_budget"] is None
    assert resolve_config("quick")["time_budget"] == 60


# --- unknown words: said, charged and named ----------------------------------------------------


def test_a_word_run_that_knows_few_words_says_so_on_stderr(cli):
    results, _ = cli
    trained = results["train word"]
    assert trained.returncode == 0, trained.stderr[-3000:]
    # 7 of the pattern's 12 words are outside a 6-token vocabulary: 19 of every 46 characters.
    assert "41% of the training text and 41% of the held-out text are outside the vocabulary" in trained.stderr
    assert "character or subword tokens" in trained.stderr
    assert "outside the vocabulary" not in results["train"].stderr  # a character run knows its text


def test_evaluate_reports_the_share_of_unknown_characters(cli):
    results, _ = cli
    own = json.loads(results["evaluate word"].stdout)
    assert own["unknown_share"] == pytest.approx(19 / 46, abs=0.02)
    russian = json.loads(results["evaluate word on russian"].stdout)
    # Every Cyrillic word is unknown (only spaces and a few marks are known), and spelling
    # them out costs more than the run's own text: not a better score for knowing less.
    assert russian["unknown_share"] > 0.75
    assert russian["nats_per_char"] > own["nats_per_char"]


def test_generate_names_the_prompts_unknown_words(cli):
    results, _ = cli
    result = results["generate word with unknown words"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert ('The model does not know these parts of the prompt and reads each as <unk>: '
            '"zebra", "and", "unicorn".') in result.stderr
    assert "zebra" not in result.stdout  # the continuation alone is printed


def test_train_says_on_stderr_how_many_bytes_were_left_out_and_where(cli):
    results, paths = cli
    result = results["train a file with a stray byte"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert ("warning: One byte of one-bad-byte.txt was not valid UTF-8 and was left out; it is on line 1."
            in result.stderr.splitlines())
    tokens = json.loads((paths["tmp"] / "stray-run" / "tokenizer.json").read_text(encoding="utf-8"))["tokens"]
    assert set(ACCENTED) <= set(tokens) and not {"Ã", "â", "\x80", "\x92", "\ufffd"} & set(tokens)
    config = json.loads((paths["tmp"] / "stray-run" / "config.json").read_text(encoding="utf-8"))
    assert config["corpus"]["encoding"] == "UTF-8"


# --- ordinary shell use: a closed pipe ends a command at once and quietly ----------


def cli_env(home=None):
    env = {k: v for k, v in os.environ.items() if k != "TEXTGEN_QUEUE_DIR"}
    if home:
        env["TEXTGEN_HOME"] = str(home)
    return env


def into_closed_pipe(args, home=None):
    """Run a command whose stdout's reader has gone before it writes: (status, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "textgen", *map(str, args)], cwd=ROOT, env=cli_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err.decode()


def test_generate_into_head_ends_at_once_and_quietly(quick_run_dir, tmp_path):
    import shlex
    import time

    command = [sys.executable, "-m", "textgen", "generate", str(quick_run_dir), "--seed", "1"]
    began = time.time()
    whole = subprocess.run([*command, "--length", "50"], cwd=ROOT, env=cli_env(), capture_output=True,
                           timeout=300)
    short = time.time() - began
    assert whole.returncode == 0 and whole.stderr == b""
    err, status = tmp_path / "stderr", tmp_path / "status"
    pipeline = (f"{shlex.join(command)} --length 100000 2> {shlex.quote(str(err))} | head -c 50; "
                f"echo ${{PIPESTATUS[0]}} > {shlex.quote(str(status))}")
    began = time.time()
    piped = subprocess.run(["bash", "-c", pipeline], cwd=ROOT, env=cli_env(), capture_output=True, timeout=300)
    took = time.time() - began
    assert piped.stdout == whole.stdout[:50]  # the same text, as far as head read it
    assert err.read_text() == ""
    assert status.read_text().strip() == "141"  # 128 + SIGPIPE, as Unix tools report a closed pipe
    # It stops with the first piece, not after writing 100,000 characters (several seconds more).
    assert took < short + 4, (took, short)


def test_generate_writes_the_first_sample_as_it_is_produced(monkeypatch):
    import io

    from textgen import cli

    pulled = []

    def chunks():
        for i in range(1000):
            pulled.append(i)
            yield [f"<{i}>"]

    class ClosedAfterOneWrite(io.StringIO):
        def write(self, text):
            if self.getvalue():
                raise BrokenPipeError(32, "Broken pipe")
            return super().write(text)

    monkeypatch.setattr(sys, "stdout", ClosedAfterOneWrite())
    with pytest.raises(BrokenPipeError):
        cli.write_samples(chunks(), 1)
    assert pulled == [0, 1]


def test_a_complete_generate_prints_the_samples_as_before(monkeypatch):
    import io

    from textgen import cli

    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    cli.write_samples(iter([["ab", "cd", "ef"], ["g", "h", "i"]]), 3)
    assert out.getvalue() == "abg" + "\n\n" + SEPARATOR + "\n\ncdh" + "\n\n" + SEPARATOR + "\n\nefi\n"


def test_runs_and_evaluate_into_a_closed_pipe_end_quietly(quick_run_dir):
    for args in (["runs", "--root", quick_run_dir.parent], ["evaluate", quick_run_dir]):
        status, err = into_closed_pipe(args)
        assert (status, err) == (141, ""), args


def test_train_with_a_closed_stderr_trains_to_the_end(tmp_path):
    corpus = tmp_path / "pattern.txt"
    corpus.write_text(PATTERN * 120, encoding="utf-8")
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "textgen", "train", str(corpus), "--out", str(out), *TINY],
                            cwd=ROOT, env=cli_env(tmp_path / "home"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    proc.stderr.close()  # as `train ... 2>&1 | head -1` leaves it after one line
    assert proc.wait(timeout=300) == 0
    assert json.loads((out / "status.json").read_text())["state"] == "completed"


def test_a_diverging_run_or_a_budget_shorter_than_start_up_ends_with_a_sentence(tmp_path):
    shakespeare = ROOT.parent / "shared" / "corpora" / "tinyshakespeare.txt"
    prose = tmp_path / "prose.txt"
    prose.write_text(shakespeare.read_text(encoding="utf-8")[:20_000], encoding="utf-8")
    ten_kb = tmp_path / "some-10-KB-text.txt"
    ten_kb.write_text(shakespeare.read_text(encoding="utf-8")[:10_000], encoding="utf-8")
    diverging = ["--arch", "transformer", "--layers", "1", "--units", "64", "--seq-len", "32",
                 "--batch-size", "16", "--learning-rate", "1.0", "--epochs", "4",
                 "--time-budget", "0", "--seed", "3"]
    results = run_all({
        "diverge": ["train", prose, "--out", tmp_path / "diverged", *diverging],
        "budget 5": ["train", ten_kb, "--out", tmp_path / "budget-5", "--preset", "quick",
                     "--time-budget", "5"],
        "budget 0.001": ["train", ten_kb, "--out", tmp_path / "budget-0.001", "--preset", "quick",
                         "--time-budget", "0.001"],
    }, tmp_path)
    for name, result in results.items():
        assert "Traceback" not in result.stderr and "unexpected failure" not in result.stderr, \
            (name, result.stderr[-3000:])

    diverged = results["diverge"]
    assert diverged.returncode == 1
    status = json.loads((tmp_path / "diverged" / "status.json").read_text())
    assert status["state"] == "failed"
    assert "the learning rate 1 is too high. Try 0.005 or lower." in status["message"]
    assert status["message"] in diverged.stderr

    for name in ("budget 5", "budget 0.001"):
        result = results[name]
        assert result.returncode == 0, result.stderr[-3000:]
        status = json.loads((tmp_path / name.replace(" ", "-") / "status.json").read_text())
        if status["step"] == 0:
            assert status["state"] == "stopped"
            assert "ran out before training began" in status["message"]
            assert not (tmp_path / name.replace(" ", "-") / "model.keras").exists()
        else:
            assert status["state"] == "completed"
            assert status["message"] == f"Finished: the time budget ran out after {status['step']:,} steps."
        assert status["message"] in result.stderr
    assert json.loads((tmp_path / "budget-0.001" / "status.json").read_text())["step"] == 0


def test_train_keeps_the_title_in_config_json(tmp_path):
    corpus = tmp_path / "notes.txt"
    corpus.write_text(PATTERN * 40, encoding="utf-8")
    out = tmp_path / "runs" / "titled"
    result = run_cli(["train", corpus, "--out", out, *TINY, "--epochs", "1", "--title", "  Team notes 团队 "],
                     tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((out / "config.json").read_text(encoding="utf-8"))["title"] == "Team notes 团队"


def test_a_title_of_two_lines_is_refused_before_anything_is_written(tmp_path):
    corpus = tmp_path / "notes.txt"
    corpus.write_text(PATTERN * 40, encoding="utf-8")
    out = tmp_path / "runs" / "never"
    result = run_cli(["train", corpus, "--out", out, "--title", "Team\nnotes"], tmp_path)
    assert result.returncode == 2 and not out.exists()
    assert "one line" in error_line(result) and "Traceback" not in result.stderr
