"""The held-out part is like the training part, or the product says how it is not."""

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from textgen.corpus import BUILTIN_CORPORA, builtin_text, split_text
from textgen.heldout import (held_out_novelty, held_out_warning, rebuild_held_out, run_held_out_warning,
                             scored_part)
from textgen.errors import TextgenError

ROOT = Path(__file__).resolve().parent.parent
CHINESE = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]")
TINY = ["--preset", "quick", "--layers", "1", "--units", "16", "--embedding-dim", "8", "--seq-len", "16",
        "--batch-size", "8", "--epochs", "1", "--time-budget", "0", "--seed", "1"]


def chinese_share(text: str) -> float:
    return len(CHINESE.findall(text)) / len(text)


def chinese_tail_corpus(path: Path) -> Path:
    """English text whose last tenth and more is Chinese, as when two files are joined."""
    english = "The keeper climbs the stairs and lights the lamp at dusk. " * 40
    chinese = builtin_text("sample-zh")[:400]
    path.write_text(english + "\n\n" + chinese, encoding="utf-8")
    return path


# --- the measurement ---------------------------------------------------------------


def test_unseen_characters_are_counted_against_what_text_like_the_training_part_would_hold():
    novelty = held_out_novelty("aab", "abcc")
    assert novelty["held_out_chars"] == 4
    assert novelty["unseen_chars"] == 2 and novelty["unseen_share"] == 0.5
    assert novelty["unseen_examples"] == "c"
    # One of the three training characters ("b") occurs once: about a third of text like
    # it would be new characters, so half is not unlike it.
    assert novelty["expected_unseen_share"] == pytest.approx(1 / 3, abs=1e-6)
    assert novelty["scripts"] == [] and not novelty["unseen_unlike"] and not novelty["unlike"]
    assert held_out_warning(novelty) is None


def test_a_chinese_held_out_part_after_english_training_text_is_unlike_it():
    novelty = held_out_novelty("hello world " * 100, "你好世界" * 10 + "hello " * 10)
    assert novelty["unseen_chars"] == 40 and novelty["unseen_share"] == 0.4
    assert novelty["expected_unseen_share"] == 0.0
    assert novelty["unseen_examples"] == "世你好界"
    assert novelty["scripts"] == [{"script": "Chinese characters", "held_out_share": 0.4, "train_share": 0.0}]
    assert novelty["unlike"]
    assert str(held_out_warning(novelty)) == (
        "The held-out part at the end of the text, on which the model is scored, holds much that the "
        "training part lacks: 40.0% of its characters never occur in the training part (in text like "
        "the training part, about 0.0% would), and Chinese characters make up 40% of it but 0.0% of the "
        "training part. Its loss stays high on these however well the model learns, so it is no fair "
        "measure of the model. Spread such passages through the whole text, or train on them separately.")


def test_a_script_rare_in_training_but_common_in_the_held_out_part_is_named():
    novelty = held_out_novelty("abcdefgh " * 100 + "жж", "ж" * 10 + "abcdefgh " * 10)
    assert novelty["unseen_chars"] == 0
    (script,) = novelty["scripts"]
    assert script["script"] == "Cyrillic letters" and script["held_out_share"] == 0.1
    assert script["train_share"] == pytest.approx(2 / 902, abs=1e-6)
    warning = held_out_warning(novelty)
    assert "Cyrillic letters make up 10% of it but 0.2% of the training part" in str(warning)
    assert "never occur" not in str(warning)


def test_a_damaged_record_in_a_runs_config_gives_no_sentence():
    assert held_out_warning(None) is None
    assert held_out_warning({"unlike": True, "unseen_share": "lots"}) is None
    assert run_held_out_warning({"held_out": "junk"}) is None
    assert run_held_out_warning({}) is None


def test_the_scored_part_is_named_only_when_the_periodic_scores_read_part_of_the_held_out_text():
    assert scored_part({"held_out": {"chars": 111_540}, "eval_max_chars": 50_000}) == (50_000, 111_540)
    assert scored_part({"held_out": {"chars": 50_000}, "eval_max_chars": 50_000}) is None
    assert scored_part({"held_out": {"chars": 1_200}, "eval_max_chars": 50_000}) is None
    assert scored_part({"eval_max_chars": 50_000}) is None  # a run from before the record
    assert scored_part({"held_out": "damaged", "eval_max_chars": 50_000}) is None
    assert scored_part(None) is None


def test_a_50_mb_text_is_measured_in_seconds():
    import time
    text = Path(ROOT.parent / "shared" / "corpora" / "tinyshakespeare.txt").read_text(encoding="utf-8") * 45
    began = time.time()
    novelty = held_out_novelty(*split_text(text, 0.1))
    assert time.time() - began < 10
    assert novelty["held_out_chars"] > 5_000_000 and not novelty["unlike"]


# --- the built-in corpora ------------------------------------------------------------


@pytest.mark.parametrize("name", list(BUILTIN_CORPORA))
def test_each_built_in_corpus_has_a_held_out_part_like_the_rest(name):
    novelty = held_out_novelty(*split_text(builtin_text(name), 0.1))
    assert not novelty["unlike"], novelty
    assert novelty["unseen_share"] < 0.02 or name == "sample-zh", novelty  # Chinese meets new characters
    assert held_out_warning(novelty) is None


def test_the_samples_chinese_letters_are_spread_through_it():
    text = builtin_text("sample")
    overall = chinese_share(text)
    assert 0.01 < overall < 0.03
    _, held_out = split_text(text, 0.1)
    assert overall / 1.5 < chinese_share(held_out) < overall * 1.5
    tenths = [text[i * len(text) // 10:(i + 1) * len(text) // 10] for i in range(10)]
    assert sum(chinese_share(part) > 0 for part in tenths) >= 7


# --- a run's held-out part, scored again ---------------------------------------------


def write_corpus(path: Path, text: str) -> dict:
    path.write_text(text, encoding="utf-8")
    train, held_out = split_text(text, 0.1)
    return {"chars": len(held_out), "sha256": hashlib.sha256(held_out.encode()).hexdigest()}


def test_a_runs_held_out_part_is_rebuilt_while_the_corpus_still_ends_with_it(tmp_path):
    path = tmp_path / "tales.txt"
    text = "".join(f"Tale number {i} ends well. " for i in range(200))
    record = write_corpus(path, text)
    config = {"val_fraction": 0.1, "held_out": record,
              "corpus": {"sources": [str(path)], "sha256": hashlib.sha256(text.encode()).hexdigest()}}
    assert rebuild_held_out(config) == split_text(text, 0.1)[1]
    # New text before the held-out part: the model and what it is scored on are unchanged.
    path.write_text("A new first line.\n" + text, encoding="utf-8")
    assert rebuild_held_out(config) == split_text(text, 0.1)[1]
    # A changed ending cannot be scored as the run's held-out part.
    path.write_text(text + "And one more.", encoding="utf-8")
    with pytest.raises(TextgenError, match="corpus has changed since training"):
        rebuild_held_out(config)
    del config["held_out"]  # a run from before held-out fingerprints: the whole corpus must match
    path.write_text("A new first line.\n" + text, encoding="utf-8")
    with pytest.raises(TextgenError, match="corpus has changed since training"):
        rebuild_held_out(config)


def test_the_shipped_base_model_is_scored_and_checked_on_exactly_its_own_text():
    # The base model learnt builtin:python-code + builtin:sample + builtin:python-docs;
    # its held-out part is the end of python-docs. Code and docs come with this Python installation.
    from textgen import memorisation
    from textgen.corpus import load_corpus

    base = ROOT / "assets" / "base-model"
    config = json.loads((base / "config.json").read_text(encoding="utf-8"))
    assert config["corpus"]["sources"] == ["builtin:python-code", "builtin:sample", "builtin:python-docs"]
    record = config["held_out"]
    chars = config["corpus"]["chars"]
    assert record["chars"] == chars - int(chars * 0.9) and not record["novelty"]["unlike"]
    corpus = load_corpus(config["corpus"]["sources"])
    train, held_out = split_text(corpus.text, 0.1)
    docs_end = builtin_text("python-docs")[-record["chars"]:]
    if corpus.sha256 == config["corpus"]["sha256"]:
        assert rebuild_held_out(config) == held_out
        assert memorisation.training_text(base)[0] == train
    elif hashlib.sha256(docs_end.encode()).hexdigest() == record["sha256"]:  # another library, same docs
        assert rebuild_held_out(config) == docs_end
    else:  # another Python's documentation: refused, never scored as if it were the same
        with pytest.raises(TextgenError, match="corpus has changed since training"):
            rebuild_held_out(config)


# --- said before training starts -----------------------------------------------------


def test_train_says_on_stderr_when_the_held_out_part_is_unlike_the_rest(tmp_path):
    corpus = chinese_tail_corpus(tmp_path / "english-then-chinese.txt")
    env = {k: v for k, v in os.environ.items() if k != "TEXTGEN_QUEUE_DIR"}
    env["TEXTGEN_HOME"] = str(tmp_path / "home")
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "textgen", "train", str(corpus), "--out", str(out), *TINY],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    before_training = done.stderr.split("Training gru")[0]
    assert "holds much that the training part lacks" in before_training
    assert "Chinese characters make up" in before_training
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["held_out"]["novelty"]["unlike"]
    assert str(run_held_out_warning(config)) in done.stderr


def test_the_home_demo_run_on_the_sample_records_a_held_out_part_like_the_rest(quick_run_dir):
    config = json.loads((quick_run_dir / "config.json").read_text(encoding="utf-8"))
    assert config["held_out"]["novelty"]["unlike"] is False
    assert run_held_out_warning(config) is None
