"""The interface in English and Chinese: the catalog is complete, the switch works, and a
Chinese corpus trains, generates and scores end to end at character level."""

from __future__ import annotations

import ast
import io
import json
import math
import string
import zipfile
from pathlib import Path

import pytest

from textgen import config, corpus, encodings, export, report
from textgen.errors import TextgenError
from textgen.i18n import DEFAULT_LANGUAGE, LANGUAGES, catalog, join_sentences, translate, translate_error

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
UI_FILES = [*PAGES, *(ROOT / "textgen" / name
                       for name in ("charts.py", "corpus.py", "report.py", "explore.py", "memorisation.py",
                                    "unknowns.py", "export.py"))]
# Every module, not a list kept by hand: a new module that raises errors is scanned too.
ERROR_FILES = [*sorted((ROOT / "textgen").rglob("*.py")), *PAGES]
IMPORT_ERROR_PREFIX = "This archive cannot be imported: "


def _calls(path: Path, names: set[str], position: int = 0):
    """(function name, argument) of every call of ``names`` whose argument at ``position`` is a literal."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        name = node.func.id if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else \
            node.func.attr if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) else None
        if name in names \
                and len(node.args) > position and isinstance(node.args[position], ast.Constant) \
                and isinstance(node.args[position].value, str):
            yield name, node.args[position].value


def ui_strings() -> set[str]:
    # t on pages; translate, and the report's tr / heading / note, in textgen.
    strings = {text for path in UI_FILES
               for _, text in _calls(path, {"t", "translate", "tr", "heading", "note"})}
    # The chosen corpus's name is shown through a template: choose_corpus(spec, name, template).
    return strings | {text for path in PAGES for _, text in _calls(path, {"choose_corpus"}, 2)}


# Functions that pass their caller's template on to TextgenError: their callers are scanned.
FORWARDERS = {"_import_error"}


def _templates(node, constants: dict) -> list[str] | None:
    """The templates an expression can be: a literal, a module constant holding one (or a
    dict of them), a sum of such, or a choice between them. None when it cannot be told
    from the source (a sentence filled in at run time, say)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    if isinstance(node, ast.Subscript):
        return _templates(node.value, constants)
    if isinstance(node, ast.IfExp):
        body, orelse = _templates(node.body, constants), _templates(node.orelse, constants)
        return None if body is None or orelse is None else body + orelse
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _templates(node.left, constants), _templates(node.right, constants)
        if left is None or right is None or len(left) != 1 or len(right) != 1:
            return None
        return [left[0] + right[0]]
    if isinstance(node, ast.Dict) and node.values:
        found = [_templates(value, constants) for value in node.values]
        return None if None in found else [t for templates in found for t in templates]
    return None


def _error_calls(path: Path):
    """(line, function, templates or None) of every TextgenError call in ``path`` outside the
    forwarders, and of every forwarder call."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = {}
    for node in tree.body:  # module-level constants, in order: later ones may build on earlier
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            templates = _templates(node.value, constants)
            if templates is not None:
                constants[node.targets[0].id] = templates
    inside_forwarders = {id(call) for fn in ast.walk(tree)
                         if isinstance(fn, ast.FunctionDef) and fn.name in FORWARDERS for call in ast.walk(fn)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and id(node) not in inside_forwarders \
                and node.func.id in {"TextgenError", *FORWARDERS}:
            templates = _templates(node.args[0], constants) if node.args else [""]
            yield node.lineno, node.func.id, templates


def error_templates() -> set[str]:
    found = set()
    for path in ERROR_FILES:
        for _, name, templates in _error_calls(path):
            for text in templates or []:
                found.add(IMPORT_ERROR_PREFIX + text if name == "_import_error" else text)
    return found


def shown_from_data() -> set[str]:
    """English the pages translate from data rather than literals: the built-in corpora's
    names and descriptions. (Setting helps from textgen.config and status messages from training have
    catalog entries too, but change with those modules; they fall back to English.)"""
    helps = {h[0].upper() + h[1:] + "." for *_, h in config.RANGES.values()}  # Train's number inputs
    verdicts = {words for scale in report.VERDICTS.values() for _, words in scale}  # the report's summary
    units = set(export.LENGTH_UNITS.values())  # what an exported page's Length counts
    return {*corpus.BUILTIN_CORPORA, *corpus.BUILTIN_CORPORA.values()} | helps | {label for _, label in report.SETTINGS} | verdicts | units


def fields(template: str) -> set[str]:
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template)
            if name is not None}


# --- the catalog -----------------------------------------------------------------


def test_the_scan_finds_the_interface():
    strings = ui_strings()
    assert {"Corpus", "Train", "Generate", "Runs", "Start training", "Stop training", "Temperature",
            "Top-k", "Top-p", "Quick", "Balanced", "Quality"} <= strings
    assert len(strings) > 200
    assert {"pasted text", "built-in {name}"} <= strings
    templates = error_templates()
    assert 'There is no built-in corpus called "{name}". Choose one of: {available}.' in templates
    assert IMPORT_ERROR_PREFIX + "it is empty." in templates


def test_every_error_is_a_template_whose_values_come_apart():
    # An f-string (or .format, or %) bakes the values into the sentence: no catalog entry
    # can match it, so the app could never show it in Chinese.
    filled_in = [f"{path.relative_to(ROOT)}:{line}" for path in ERROR_FILES
                 for line, _, templates in _error_calls(path) if templates is None]
    assert not filled_in, filled_in


def test_the_error_scan_reads_every_module_and_the_templates_kept_in_constants(tmp_path):
    assert set(ERROR_FILES) >= set((ROOT / "textgen").rglob("*.py")) | set(PAGES)
    templates = error_templates()
    # from a module the old hand-made list left out, from a sampling setting, and from constants
    assert "Unknown preset {preset!r}. Choose quick, balanced or quality." in templates
    assert "The top-p must be a number from 0 to 1 (1 is off)." in templates
    assert config.OUT_OF_RANGE_WHOLE in templates and config.OUT_OF_RANGE in templates
    assert any(t.startswith("This model has {parameters:,} parameters") for t in templates)
    # and it would notice a sentence filled in at run time
    sample = tmp_path / "sample.py"
    sample.write_text('def f(n):\n    raise TextgenError(f"{n} is bad.")\n', encoding="utf-8")
    assert [templates for *_, templates in _error_calls(sample)] == [None]


@pytest.mark.parametrize("kind", ["interface", "errors", "data"])
def test_every_english_string_has_a_chinese_entry(kind):
    wanted = {"interface": ui_strings, "errors": error_templates, "data": shown_from_data}[kind]()
    missing = sorted(wanted - set(catalog("zh")))
    assert not missing, missing


def test_chinese_entries_keep_the_same_fields_and_are_chinese():
    entries = json.loads((ROOT / "textgen" / "locales" / "zh.json").read_text(encoding="utf-8"))
    assert entries == catalog("zh")
    for english, chinese in entries.items():
        assert isinstance(chinese, str) and chinese.strip(), english
        assert fields(english) == fields(chinese), (english, chinese)


def test_translate_falls_back_to_english():
    assert translate("Start training") == "Start training"
    assert translate("Start training", "zh") == "开始训练"
    assert translate("Nothing like this is in the catalog", "zh") == "Nothing like this is in the catalog"
    assert translate("Start training", "klingon") == "Start training"
    assert translate("Seed {seed}.", "en", seed=3) == "Seed 3."
    assert translate("Seed {seed}.", "zh", seed=3) == "随机种子：3。"
    assert translate("No such key {n}", "zh", n=2) == "No such key 2"
    assert LANGUAGES == {"en": "English", "zh": "中文"} and DEFAULT_LANGUAGE == "en"
    assert join_sentences(["A.", "", "B."], "en") == "A. B."
    assert join_sentences(["甲。", "乙。"], "zh") == "甲。乙。"


# --- TextgenError ------------------------------------------------------------------


def test_textgen_error_keeps_its_english_sentence_template_and_params():
    plain = TextgenError("This run is still training. Stop it before deleting it.")
    assert str(plain) == "This run is still training. Stop it before deleting it."
    assert plain.template == str(plain) and plain.params == {}
    old_style = TextgenError(f"A run named {'x'} exists again; rename it before restoring.")
    assert str(old_style) == "A run named x exists again; rename it before restoring."
    e = TextgenError('There is no built-in corpus called "{name}". Choose one of: {available}.',
                     name="nope", available="builtin:sample")
    assert str(e) == 'There is no built-in corpus called "nope". Choose one of: builtin:sample.'
    assert e.template.startswith("There is no built-in corpus called") and e.params["name"] == "nope"
    assert e.args == (str(e),)
    assert translate_error(e) == str(e)
    assert translate_error(e, "zh") == "没有名为“nope”的内置语料。可选：builtin:sample。"


def test_core_errors_translate_with_their_params():
    with pytest.raises(TextgenError) as caught:
        corpus.load_corpus("builtin:nope")
    assert str(caught.value).startswith('There is no built-in corpus called "nope". Choose one of: builtin:sample')
    assert "nope" in translate_error(caught.value, "zh") and "内置语料" in translate_error(caught.value, "zh")
    with pytest.raises(TextgenError) as caught:
        encodings.decode_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "holiday.png")
    assert str(caught.value).startswith("holiday.png looks like a PNG image, not text.")
    assert translate_error(caught.value, "zh").startswith("holiday.png 看起来是PNG 图片")


def test_a_nested_error_is_translated_inside_the_outer_one():
    from textgen.archive import import_run_zip

    with pytest.raises(TextgenError) as caught:
        import_run_zip(b"not a zip")
    assert str(caught.value) == ("This archive cannot be imported: it is not a zip archive. "
                                 "Choose a .zip file downloaded from the Runs page.")
    assert translate_error(caught.value, "zh").startswith("无法导入这个压缩包：它不是 zip 压缩包。")

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("config.json", "tokenizer.json", "model.keras"):
            zf.writestr(f"-bad-name/{name}", "{}")
    with pytest.raises(TextgenError) as caught:
        import_run_zip(archive.getvalue())
    inner = caught.value.params["reason"]
    assert isinstance(inner, TextgenError) and inner.params["name"] == "-bad-name"
    assert str(caught.value) == IMPORT_ERROR_PREFIX + str(inner)
    chinese = translate_error(caught.value, "zh")
    assert chinese.startswith("无法导入这个压缩包：") and "'-bad-name'" in chinese and "运行名称" in chinese


# --- the Chinese corpus ---------------------------------------------------------------


def test_the_chinese_sample_is_a_builtin_corpus():
    loaded = corpus.load_corpus("builtin:sample-zh")
    text = loaded.text
    assert 15_000 <= len(text.encode("utf-8")) <= 25_000
    assert loaded.encoding == "UTF-8" and "\r" not in text
    chinese = sum("\u4e00" <= c <= "\u9fff" for c in text)
    assert chinese > 0.75 * len(text.replace("\n", ""))
    assert text.count("\n\n") > 60  # many paragraphs
    assert "sample-zh" in corpus.BUILTIN_CORPORA and "sample-zh" in translate(
        "There is no built-in corpus called \"{name}\". Choose one of: {available}.", "zh",
        name="x", available=", ".join(corpus.BUILTIN_CORPORA))


def test_a_chinese_corpus_trains_generates_and_scores_at_character_level(tmp_path):
    import textgen
    from textgen.training import train

    run_dir = tmp_path / "zh-run"
    settings = config.resolve_config("quick", arch="gru", tokenizer="char", layers=1, units=32,
                                     embedding_dim=16, seq_len=32, batch_size=32, learning_rate=1e-2,
                                     seed=1, epochs=4, time_budget=0, eval_every_s=1.0, sample_every_s=1.0)
    status = train(["builtin:sample-zh"], run_dir, settings, log=lambda m: None)
    assert status["state"] == "completed"
    saved = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    assert saved["tokenizer"] == "char" and saved["vocab_size"] > 500  # one token per Chinese character

    run = textgen.load_run(run_dir)
    text = run.generate(prompt="山里的", length=40, temperature=0.8, seed=2)
    assert sum("\u4e00" <= c <= "\u9fff" for c in text) >= 10

    scores = run.evaluate()  # the run's own held-out split, as `python -m textgen evaluate RUN_DIR`
    assert math.isfinite(scores["nats_per_char"]) and scores["nats_per_char"] > 0
    assert scores["nats_per_char"] < math.log(saved["vocab_size"]) - 0.5  # it learnt more than uniform guessing
    assert scores["chars"] > 500  # the held-out tenth of the Chinese text
