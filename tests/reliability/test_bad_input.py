"""Bad input: each kind is refused with a sentence, read correctly, or handled, never a crash."""

import math
import shutil
import tomllib

import numpy as np
import pytest

from textgen import jobs, runs, uploads
from textgen.config import RANGES, resolve_config
from textgen.corpus import load_corpus
from textgen.errors import TextgenError

from reliability_helpers import APP_ROOT, TINY_OPTIONS, copy_run, run_cli

CHINESE = "床前明月光，疑是地上霜。举头望明月，低头思故乡。\n" * 40
GERMAN = "Grüße aus Köln, sagte die Möwe.\n" * 40


def page_errors(at):
    return [e.value for e in at.exception]


# --- files ---------------------------------------------------------------------------


def test_an_empty_file_is_refused(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(TextgenError, match="empty"):
        load_corpus(empty)
    (tmp_path / "blank.txt").write_bytes(b" \n\r\n\t ")
    with pytest.raises(TextgenError, match="empty"):
        load_corpus(tmp_path / "blank.txt")
    rc, _, err = run_cli("train", empty, "--out", tmp_path / "run", capsys=capsys)
    assert rc == 2 and err.startswith("error:") and "empty" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name, data, expected", [
    ("noise.txt", np.random.default_rng(0).bytes(4096), "binary data"),
    ("photo.txt", b"\x89PNG\r\n\x1a\n" + np.random.default_rng(1).bytes(2048), "a PNG image"),
    ("photo2.txt", b"\xff\xd8\xff\xe0\x00\x10JFIF" + np.random.default_rng(2).bytes(2048), "a JPEG image"),
])
def test_binary_files_and_renamed_images_are_refused(tmp_path, name, data, expected, capsys):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(TextgenError, match=expected) as e:
        load_corpus(path)
    assert "plain-text file" in str(e.value)
    rc, _, err = run_cli("train", path, "--out", tmp_path / "run", capsys=capsys)
    assert rc == 2 and expected in err and err.count("\n") == 1


@pytest.mark.parametrize("text, codec", [
    (CHINESE, "gbk"), (CHINESE, "gb18030"), (CHINESE, "utf-16"), (GERMAN, "utf-16"),
    (GERMAN, "utf-16-le"), (GERMAN, "utf-16-be"), (GERMAN, "utf-8-sig"), (GERMAN, "cp1252"),
])
def test_other_encodings_are_decoded_correctly(tmp_path, text, codec):
    path = tmp_path / "text.txt"
    path.write_bytes(text.encode(codec))
    assert load_corpus(path).text == text


def test_mixed_line_endings_become_newlines(tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_bytes(b"one\r\ntwo\rthree\nfour\r\n\r\nfive")
    loaded = load_corpus(path)
    assert loaded.text == "one\ntwo\nthree\nfour\n\nfive"
    assert "\r" not in loaded.text and loaded.stats["lines"] == 6


def test_a_corpus_of_a_few_characters_is_refused_naming_the_minimum(tmp_path, capsys):
    path = tmp_path / "tiny.txt"
    path.write_text("abc", encoding="utf-8")
    assert load_corpus(path).text == "abc"  # readable, just too short
    rc, _, err = run_cli("train", path, "--out", tmp_path / "run", "--seq-len", 16, capsys=capsys)
    # Not even the shortest windows fit, so no sequence length is offered as a way out.
    assert rc == 2 and "The corpus has 3 characters" in err and "need at least 41" in err
    assert err.strip().endswith("Add more text.")
    assert not (tmp_path / "run").exists()


def test_an_upload_over_the_size_limit_is_refused_with_a_sentence(open_page, app_home, monkeypatch):
    config = tomllib.loads((APP_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 2**20 == uploads.MAX_UPLOAD_BYTES
    with pytest.raises(TextgenError, match="big.txt is 201 MB; an upload may be at most 200 MB"):
        uploads.check_upload_size(bytes(uploads.MAX_UPLOAD_BYTES + 2**20), "big.txt")
    uploads.check_upload_size(bytes(10), "small.txt")
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 1000)
    with pytest.raises(TextgenError, match="big.txt is 2 KB; an upload may be at most 1,000 bytes"):
        uploads.store_corpus(b"word " * 400, "big.txt", app_home)
    assert not (app_home / "corpora").exists()
    at = open_page("corpus")
    at.file_uploader[0].upload("big.txt", b"word " * 400, "text/plain")
    at.run()
    assert not at.exception
    assert any("may be at most" in e.value for e in at.error)
    assert "corpus_spec" not in at.session_state


def test_bad_uploads_on_the_corpus_page_get_sentences(open_page):
    at = open_page("corpus")
    at.file_uploader[0].set_value([("empty.txt", b"", "text/plain"),
                                   ("cat.txt", b"\x89PNG\r\n\x1a\n" + bytes(300), "text/plain")])
    at.run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "empty.txt is empty" in errors and "cat.txt looks like a PNG image" in errors


# --- settings ------------------------------------------------------------------------------

BAD_VALUES = [0, -1, -0.5, math.nan, math.inf, 1e12, "abc", [3], {"a": 1}, True]


def allowed(name, value):
    kind, low, high, _ = RANGES[name]
    if isinstance(value, (bool, str, list, dict)) or not math.isfinite(value):
        return False
    return low <= value <= high and (kind is float or value == int(value))


@pytest.mark.parametrize("name", sorted(RANGES))
def test_every_setting_out_of_range_or_of_the_wrong_type_is_refused(name):
    kind, low, high, _ = RANGES[name]
    for value in BAD_VALUES:
        if allowed(name, value):
            resolve_config("quick", **{name: value})
            continue
        with pytest.raises(TextgenError) as e:
            resolve_config("quick", **{name: value})
        assert f"from {low:g} to {high:g}" in str(e.value), (name, value, str(e.value))
    if kind is int and low <= 2.5 <= high:
        with pytest.raises(TextgenError, match="a whole number"):
            resolve_config("quick", **{name: 2.5})


@pytest.mark.parametrize("bad", [dict(arch="cnn"), dict(arch=5), dict(tokenizer="bytes"),
                                 dict(tokenizer=None, preset=3)])
def test_choices_of_the_wrong_kind_are_refused(bad):
    preset = bad.pop("preset", "quick")
    with pytest.raises(TextgenError, match="Choose"):
        resolve_config(preset, **{k: v for k, v in bad.items() if v is not None})


CLI_FLAGS = ["seq-len", "batch-size", "layers", "units", "embedding-dim", "dropout", "learning-rate",
             "epochs", "val-fraction", "seed", "time-budget", "freeze-layers"]


@pytest.mark.parametrize("flag", CLI_FLAGS)
def test_the_cli_refuses_each_bad_setting_naming_the_range(flag, tmp_path, capsys):
    name = flag.replace("-", "_")
    kind, low, high, _ = RANGES[name]
    for text in ("0", "-3", "nan", "inf", "1e12", "abc", "", "1.5e"):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if allowed(name, value):
            continue
        rc, out, err = run_cli("train", "builtin:sample", "--out", tmp_path / "run", f"--{flag}", text,
                               capsys=capsys)
        assert rc == 2 and err.startswith("error:") and err.count("\n") == 1, (flag, text, err)
        assert f"from {low:g} to {high:g}" in err, (flag, text, err)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, message", [
    (["--temperature", "-1"], "temperature must be a number from 0"),
    (["--temperature", "nan"], "temperature must be a number from 0"),
    (["--temperature", "1e9"], "temperature must be a number from 0"),
    (["--top-k", "-1"], "top-k must be a whole number of 0"),
    (["--top-p", "1.5"], "top-p must be a number from 0 to 1"),
    (["--top-p", "nan"], "top-p must be a number from 0 to 1"),
    (["--length", "0"], "length must be a whole number from 1 to"),
    (["--length", "1000000000"], "length must be a whole number from 1 to"),
    (["--num-samples", "0"], "number of samples must be a whole number from 1"),
])
def test_the_cli_refuses_bad_sampling_settings(tiny_run, args, message, capsys):
    rc, out, err = run_cli("generate", tiny_run, *args, capsys=capsys)
    assert rc == 2 and message in err and not out


# --- prompts and sampling ------------------------------------------------------------------


def test_a_prompt_with_characters_the_model_never_saw_gets_a_sentence(loaded_tiny_run, tiny_run, capsys):
    with pytest.raises(TextgenError) as e:
        loaded_tiny_run.generate(prompt="the cat ☃ Z", length=10)
    assert "☃" in str(e.value) or "SNOWMAN" in str(e.value).upper()
    rc, _, err = run_cli("generate", tiny_run, "--prompt", "Zürich", capsys=capsys)
    assert rc == 2 and err.startswith("error:") and "Traceback" not in err


def test_extreme_sampling_settings_all_work(loaded_tiny_run):
    run = loaded_tiny_run
    greedy = run.generate("the ", length=60, temperature=0.0, seed=1)
    assert len(greedy) == 60
    assert run.generate("the ", length=60, temperature=1.0, top_k=1, seed=2) == greedy
    assert run.generate("the ", length=60, temperature=1.3, top_k=1, seed=3) == greedy
    assert run.generate("the ", length=60, top_p=0.0, seed=4) == greedy
    for top_p in (0.0, 1.0):
        for temperature in (0.0, 0.5, 2.0, 10.0):
            text = run.generate("the ", length=30, temperature=temperature, top_p=top_p, seed=5)
            assert len(text) == 30
    assert len(run.generate("", length=1, top_k=0)) == 1


# --- runs that vanish or collide --------------------------------------------------------------


@pytest.mark.parametrize("page", ["runs", "generate", "train"])
def test_a_run_deleted_while_the_app_shows_it(page, home, tiny_run, open_page, no_shipped_models):
    run = copy_run(tiny_run, home, "doomed")
    at = open_page(page, session_state={"selected_run": "doomed", "generate_run": "doomed"})
    shown = " ".join(str(s.value) for s in at.selectbox)
    assert "doomed" in shown
    shutil.rmtree(run)
    at.run()
    assert not page_errors(at)
    if page == "generate":
        assert any("no trained model yet" in i.value for i in at.info)
    assert "doomed" not in " ".join(str(s.value) for s in at.selectbox)


def test_a_workspace_that_is_not_a_folder_gets_a_sentence_and_nothing_starts(open_page, tmp_path, monkeypatch):
    workspace = tmp_path / "workspace"
    workspace.write_text("a file, not a folder", encoding="utf-8")
    monkeypatch.setenv("TEXTGEN_HOME", str(workspace))
    said = f"The workspace {workspace} is not a folder this app can write in"
    assert said in str(runs.workspace_problem())
    with pytest.raises(TextgenError, match="Set TEXTGEN_HOME to a folder you can write to"):
        jobs.start_training(["builtin:sample"], runs.run_path("first"), TINY_OPTIONS)
    at = open_page("home")
    assert not page_errors(at) and any(said in e.value for e in at.error)
    assert at.button(key="home_quick_start").disabled
    at.switch_page("pages/train.py").run()
    assert not page_errors(at) and any(said in e.value for e in at.error)
    assert next(b for b in at.button if b.label == "Start training").disabled
    assert workspace.read_text(encoding="utf-8") == "a file, not a folder"
    missing = tmp_path / "new" / "workspace"
    assert runs.workspace_problem(missing) is None and missing.is_dir()  # a missing one is made


def test_a_run_folder_that_cannot_be_made_gets_a_sentence_and_nothing_is_lost(home, tmp_path):
    # The runs folder is a file: no run folder can be made under it.
    runs_root = runs.run_path("first").parent
    shutil.rmtree(runs_root, ignore_errors=True)
    runs_root.parent.mkdir(parents=True, exist_ok=True)
    runs_root.write_text("kept", encoding="utf-8")
    with pytest.raises(TextgenError, match=r"The run folder .*first could not be made \(.+\)\. Choose another run name"):
        jobs.start_training(["builtin:sample"], runs.run_path("first"), TINY_OPTIONS)
    assert runs_root.read_text(encoding="utf-8") == "kept"
    runs_root.unlink()
    # A file where the run folder would go is a run of that name, not a traceback.
    runs_root.mkdir()
    runs.run_path("taken").write_text("kept", encoding="utf-8")
    with pytest.raises(TextgenError, match="A run named taken already exists"):
        jobs.start_training(["builtin:sample"], runs.run_path("taken"), TINY_OPTIONS)
    assert runs.run_path("taken").read_text(encoding="utf-8") == "kept"


def test_a_second_run_with_the_same_name_is_refused(home, tiny_run, pattern_file, open_page):
    run = copy_run(tiny_run, home, "taken")
    before = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(TextgenError, match="A run named taken already exists. Choose another name."):
        jobs.start_training([str(pattern_file)], runs.run_path("taken"), TINY_OPTIONS)
    at = open_page("train")
    at.text_input(key="train_run_name").set_value("taken").run()
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not page_errors(at)
    assert any("A run named taken already exists" in e.value for e in at.error)
    after = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert after == before
