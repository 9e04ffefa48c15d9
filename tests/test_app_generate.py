"""AppTest: the Generate page (empty state, sampling, errors, temperature comparison)."""

import json
from pathlib import Path

import pytest
from tests.conftest import button, number


def text_download(at) -> list:
    """The "Download text" button under written texts (the web page's button is always there)."""
    return [b for b in at.download_button if b.label == "Download text"]


def test_without_a_model_the_page_explains_and_links_to_train(open_page, no_shipped_models):
    at = open_page("generate")
    assert any("no trained model yet" in i.value for i in at.info)
    assert any(link.proto.page.endswith("train") or "Train" in link.label for link in at.get("page_link"))
    assert [s.label for s in at.slider] == ["Temperature", "Top-k", "Top-p"]
    assert button(at, "Generate").disabled


def test_sliders_have_the_documented_ranges(open_page, app_home_with_run):
    at = open_page("generate")
    temperature, top_k, top_p = at.slider
    assert (temperature.min, temperature.max, temperature.value) == (0.0, 2.0, 0.8)
    assert "0 = always the likeliest" in temperature.help
    assert (top_k.min, top_k.max, top_k.value) == (0, 100, 0)
    assert (top_p.min, top_p.max, top_p.value) == (0.0, 1.0, 1.0)


@pytest.mark.parametrize("label, value, sentence", [
    ("Length", 6000, "Length takes a whole number from 1 to 5,000, not 6,000."),
    ("Number of samples", 0, "Number of samples takes a whole number from 1 to 10, not 0."),
    ("Seed", -3, "Seed takes a whole number from 0 to 2,147,483,647, not -3."),
])
def test_a_number_out_of_its_range_is_named_and_nothing_is_written_with_an_older_one(open_page, app_home_with_run,
                                                                                      label, value, sentence):
    at = open_page("generate")
    number(at, label).set_value(value).run()
    assert not at.exception and any(sentence in e.value for e in at.error)
    assert button(at, "Generate").disabled and button(at, "Compare temperatures").disabled
    assert not button(at, "Show the chances").disabled  # the explorer reads only the sliders


def test_generate_writes_text_that_can_be_copied_and_downloaded(open_page, app_home_with_run, quick_run_dir):
    at = open_page("generate")
    assert Path(at.selectbox[0].value).name == quick_run_dir.name
    at.text_area[0].input("The lighthouse")
    at.slider[0].set_value(0.5)
    next(n for n in at.number_input if n.label == "Length").set_value(40)
    next(n for n in at.number_input if n.label == "Seed").set_value(7)
    button(at, "Generate").click().run()
    assert not at.exception and not at.error
    (text,) = [c.value for c in at.code]
    assert text.startswith("The lighthouse") and len(text) > len("The lighthouse")
    assert "Download text" in [b.label for b in at.download_button]
    # The same seed and settings give the same text again.
    button(at, "Generate").click().run()
    assert [c.value for c in at.code] == [text]


def test_without_a_seed_the_text_names_the_seed_that_writes_it_again(open_page, app_home_with_run):
    at = open_page("generate")
    at.text_area[0].input("The lighthouse")
    next(n for n in at.number_input if n.label == "Length").set_value(40)
    button(at, "Generate").click().run()
    assert not at.exception and not at.error
    (text,) = [c.value for c in at.code]
    seed = at.session_state["generated"]["settings"]["seed"]
    assert isinstance(seed, int) and any(f"Seed {seed}." in c.value for c in at.caption)
    next(n for n in at.number_input if n.label == "Seed").set_value(seed)
    button(at, "Generate").click().run()
    assert [c.value for c in at.code] == [text]


def test_several_samples(open_page, app_home_with_run):
    at = open_page("generate")
    next(n for n in at.number_input if n.label == "Length").set_value(20)
    next(n for n in at.number_input if n.label == "Number of samples").set_value(3)
    button(at, "Generate").click().run()
    assert not at.exception and not at.error
    assert len(at.code) == 3


def test_unknown_prompt_characters_get_a_sentence(open_page, app_home_with_run):
    at = open_page("generate")
    at.text_area[0].input("ꙮꙮꙮ")
    button(at, "Generate").click().run()
    assert not at.exception
    assert at.error and "ꙮ" in at.error[0].value


def test_compare_temperatures_side_by_side(open_page, app_home_with_run):
    at = open_page("generate")
    next(n for n in at.number_input if n.label == "Length").set_value(20)
    button(at, "Compare temperatures").click().run()
    assert not at.exception and not at.error
    titles = [m.value for m in at.markdown if m.value.startswith("**Temperature")]
    assert titles == ["**Temperature 0.2**", "**Temperature 0.7**", "**Temperature 1.0**", "**Temperature 1.3**"]
    assert len(at.code) == 4


def test_a_shipped_base_model_is_offered_for_generating_and_fine_tuning(open_page, app_home, quick_run_dir,
                                                                         monkeypatch, tmp_path):
    import shutil

    import pages._shared

    shutil.copytree(quick_run_dir, tmp_path / "assets" / "base-model")
    monkeypatch.setattr(pages._shared, "ASSETS_DIR", tmp_path / "assets")
    at = open_page("generate")
    assert at.selectbox[0].options == ["base-model (shipped base model)"]
    at.switch_page("pages/train.py").run()
    base = next(s for s in at.selectbox if s.label == "Fine-tune from")
    assert "base-model (shipped base model)" in base.options


def test_explore_the_next_character(open_page, app_home_with_run):
    at = open_page("generate")
    assert not at.get("plotly_chart")  # nothing is computed (and no model loaded) until asked
    text = at.text_area(key="explore_text")
    text.input("The ")
    button(at, "Show the chances").click().run()
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 1
    assert any(c.value.startswith("The settings keep") for c in at.caption)
    button(at, "Take the likeliest").click().run()
    assert not at.exception and not at.error
    grown = at.text_area(key="explore_text").value
    assert grown.startswith("The ") and len(grown) == 5
    button(at, "Sample one").click().run()
    assert len(at.text_area(key="explore_text").value) == 6
    # Top-k 1 keeps a single character.
    at.slider[1].set_value(1).run()
    assert any(c.value.startswith("The settings keep 1 of") for c in at.caption)
    # The prompt above can be taken over; unknown characters get a sentence.
    at.text_area[0].input("ꙮ")
    button(at, "Start from the prompt").click().run()
    assert not at.exception
    assert at.text_area(key="explore_text").value == "ꙮ"
    assert at.error and "ꙮ" in at.error[0].value


def test_the_explorer_names_what_one_token_is(open_page, app_home_with_run, quick_run_dir):
    at = open_page("generate")
    assert "Explore the next character" in [h.value for h in at.subheader]
    config_path = app_home_with_run / "runs" / quick_run_dir.name / "config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "tokenizer": "bpe"}))  # only the label reads it
    at = open_page("generate")
    assert "Explore the next subword piece" in [h.value for h in at.subheader]


def test_each_sample_shows_how_much_it_copied(open_page, app_home_with_run):
    from textgen.corpus import builtin_text

    at = open_page("generate")
    next(n for n in at.number_input if n.label == "Length").set_value(60)
    next(n for n in at.number_input if n.label == "Number of samples").set_value(2)
    button(at, "Generate").click().run()
    assert not at.exception and not at.error
    meters = [c.value for c in at.caption if c.value.startswith("Copied from the training text")]
    assert len(meters) == 2
    # A greedy continuation of a line of the training text tends to copy: the meter says so.
    at.text_area[0].input(builtin_text("sample")[:200])
    at.slider[0].set_value(0.0)
    next(n for n in at.number_input if n.label == "Number of samples").set_value(1)
    button(at, "Generate").click().run()
    (meter,) = [c.value for c in at.caption if c.value.startswith("Copied from the training text")]
    assert "of its 12-character pieces" in meter


def test_the_shipped_base_model_generates_on_a_fresh_checkout(open_page):
    at = open_page("generate")
    assert at.selectbox[0].options == ["base-model (shipped base model)"]
    next(n for n in at.number_input if n.label == "Length").set_value(40)
    next(n for n in at.number_input if n.label == "Seed").set_value(3)
    button(at, "Generate").click().run()
    assert not at.exception and not at.error
    assert len(at.code[0].value) >= 40


def test_before_and_after_fine_tuning_side_by_side(open_page, app_home, quick_run_dir):
    import json
    import shutil

    base = app_home / "runs" / "base-run"
    tuned = app_home / "runs" / "tuned-run"
    shutil.copytree(quick_run_dir, base)
    shutil.copytree(quick_run_dir, tuned)
    config = json.loads((tuned / "config.json").read_text())
    (tuned / "config.json").write_text(json.dumps(dict(config, init_from=str(base))))
    at = open_page("generate", session_state={"generate_run": "tuned-run"})
    assert any("Before and after" in s.value for s in at.subheader)
    next(n for n in at.number_input if n.label == "Length").set_value(20)
    button(at, "Compare with the base model").click().run()
    assert not at.exception and not at.error
    labels = [m.value for m in at.markdown if m.value in ("**Base model**", "**Fine-tuned**")]
    assert labels == ["**Base model**", "**Fine-tuned**"]


def test_a_prompts_unknown_words_are_named(open_page, app_home):
    from textgen.config import resolve_config
    from textgen.training import train

    corpus = app_home / "pattern.txt"
    corpus.write_text("the cat sat on the mat. a dog ran to the log. " * 60, encoding="utf-8")
    run_dir = app_home / "runs" / "word-run"
    config = resolve_config("quick", tokenizer="word", max_vocab=6, layers=1, units=16, embedding_dim=8,
                            seq_len=8, batch_size=8, epochs=1, time_budget=0, seed=1)
    assert train([str(corpus)], run_dir, config, log=lambda m: None)["state"] == "completed"
    at = open_page("generate")
    at.selectbox[0].set_value(str(run_dir)).run()
    at.text_area[0].input("the zebra sat")
    next(n for n in at.number_input if n.label == "Length").set_value(5)
    button(at, "Generate").click().run()
    assert not at.exception and not at.error
    assert len(at.code) == 1  # it still writes, reading the unknown words as <unk>
    (warning,) = [w.value for w in at.warning if "<unk>" in w.value]
    assert warning == ('The model does not know these parts of the prompt and reads each as <unk>: '
                       '"zebra", "sat".')


# --- what a refresh keeps, and text that belongs to the model chosen --------------------


def shipped_base() -> str:
    import pages._shared

    return str(pages._shared.ASSETS_DIR / "base-model")


def test_a_refresh_keeps_the_prompt_and_the_sampling_settings(open_page, app_home):
    at = open_page("generate")
    at.text_area[0].input("The keeper said,\n  ")
    at.slider[0].set_value(0.5)
    at.slider[2].set_value(0.9)
    number(at, "Length").set_value(120)
    number(at, "Seed").set_value(11)
    at.run()
    at.switch_page("app.py").run()  # AppTest runs app.py, which keeps the choices, on Home only

    again = open_page("generate")  # a refresh: a new session on the same workspace
    assert not again.exception
    assert again.text_area[0].value == "The keeper said,\n  "
    assert (again.slider[0].value, again.slider[1].value, again.slider[2].value) == (0.5, 0, 0.9)
    assert (number(again, "Length").value, number(again, "Seed").value) == (120, 11)
    assert number(again, "Number of samples").value == 1
    assert again.selectbox[0].value == shipped_base()


def test_remembered_settings_that_do_not_fit_fall_back_and_numbers_out_of_range_are_said(open_page, app_home):
    from textgen import files

    files.atomic_write_json(app_home / "app-state.json", {
        "generate_temperature": 7.5, "generate_top_k": "many", "generate_length": 0, "generate_seed": 2**40,
        "generate_num_samples": 1.5, "generate_prompt": ["not", "text"],
        "generate_model": str(app_home / "runs" / "deleted-run")})
    at = open_page("generate")
    assert not at.exception
    assert (at.slider[0].value, at.slider[1].value) == (0.8, 0)  # a slider holds only its range
    assert number(at, "Number of samples").value == 1  # not a whole number
    assert at.text_area[0].value == ""
    assert at.selectbox[0].value == shipped_base()
    # A number box's value out of range comes back as typed, with the sentence it had before the refresh.
    assert (number(at, "Length").value, number(at, "Seed").value) == (0, 2**40)
    said = " ".join(e.value for e in at.error)
    assert "Length takes a whole number from 1 to 5,000, not 0." in said
    assert "Seed takes a whole number from 0 to 2,147,483,647, not 1,099,511,627,776." in said
    assert button(at, "Generate").disabled


def test_text_written_by_another_model_is_hidden_after_switching_models(open_page, app_home_with_run, quick_run_dir):
    at = open_page("generate")
    run_path = str(app_home_with_run / "runs" / quick_run_dir.name)
    at.selectbox[0].set_value(run_path).run()
    at.text_area[0].input("The lighthouse")
    number(at, "Length").set_value(30)
    button(at, "Generate").click().run()
    assert not at.exception and not at.error
    assert len(at.code) == 1 and text_download(at)
    button(at, "Compare temperatures").click().run()
    assert len(at.code) == 5
    at.selectbox[0].set_value(shipped_base()).run()
    assert not at.code and not text_download(at)  # neither the samples nor the comparison
    assert not [c.value for c in at.caption if c.value.startswith("From ")]
    at.selectbox[0].set_value(run_path).run()  # back to the model that wrote them
    assert len(at.code) == 5 and text_download(at)


def test_a_refused_prompt_leaves_no_earlier_text_above_the_error(open_page, app_home_with_run):
    at = open_page("generate")
    at.text_area[0].input("The lighthouse")
    number(at, "Length").set_value(30)
    button(at, "Generate").click().run()
    button(at, "Compare temperatures").click().run()
    assert len(at.code) == 5 and text_download(at)
    at.text_area[0].input("ꙮꙮꙮ")
    button(at, "Generate").click().run()
    assert not at.exception
    assert at.error and "ꙮ" in at.error[0].value
    assert len(at.code) == 4 and not text_download(at)  # the comparison was not asked again
    button(at, "Compare temperatures").click().run()
    assert at.error and not at.code and not text_download(at)


def test_a_long_prompt_shows_only_its_end_above_what_the_model_wrote(open_page, app_home_with_run):
    at = open_page("generate")
    prompt = "The keeper lit the lamp. " * 600
    at.text_area(key="generate_prompt").set_value(prompt).run()
    at.number_input(key="generate_length").set_value(40).run()
    next(b for b in at.button if b.label == "Generate").click().run()
    (shown,) = [c.value for c in at.code if c.value.startswith("…")]
    assert len(shown) < 300 and shown[1:201] == prompt[-200:]
    assert any("Only the prompt's last 200 characters are shown" in c.value for c in at.caption)


def test_the_model_follows_a_newly_trained_run_until_the_person_chooses_one(open_page, app_home, quick_run_dir):
    import shutil

    from textgen import runs

    started = runs.read_status(quick_run_dir)["started_at"]

    def finish(name: str, later_s: float) -> str:
        """A run finishes in another tab, started ``later_s`` after the copied one."""
        run = app_home / "runs" / name
        shutil.copytree(quick_run_dir, run)
        runs.write_status(run, started_at=started + later_s)
        return str(run)

    at = open_page("generate")
    assert at.selectbox[0].value == shipped_base()  # nothing trained yet
    first = finish("first-run", 1)
    at.run()
    assert at.selectbox[0].value == first
    at.selectbox[0].set_value(shipped_base()).run()  # a choice the person makes stays
    finish("second-run", 2)
    at.run()
    assert at.selectbox[0].value == shipped_base() and not at.exception
    # Choosing again the model the page had chosen is a choice too, though a newer one is there.
    at.selectbox[0].set_value(first).run()
    finish("third-run", 3)
    at.run()
    assert at.selectbox[0].value == first and not at.exception


def test_text_written_while_the_run_trained_says_so_after_the_run_has_finished(open_page, app_home_with_run,
                                                                              quick_run_dir):
    import os

    from textgen import runs

    run = app_home_with_run / "runs" / quick_run_dir.name
    finished = runs.read_status(run)
    runs.write_status(run, state="running", best_step=40, pid=os.getpid())  # a live process: still training
    at = open_page("generate", session_state={"generate_run": quick_run_dir.name})
    number(at, "Length").set_value(20)
    button(at, "Generate").click().run()
    runs.write_status(run, **{k: finished[k] for k in ("state", "best_step")})  # the run finishes
    at.run()
    caption = next(c.value for c in at.caption if c.value.startswith("From "))
    assert "(completed" in caption  # the model's label now
    assert "Written while the run was still training, by its best model so far (step 40)." in caption
    assert "the prompt is included" not in caption  # there was none


def test_text_whose_run_finished_while_its_model_loaded_says_it_was_written_while_training(
        open_page, app_home_with_run, quick_run_dir, monkeypatch):
    import os

    import pages._models
    from textgen import runs

    run = app_home_with_run / "runs" / quick_run_dir.name
    finished = runs.read_status(run)
    runs.write_status(run, state="running", best_step=40, pid=os.getpid())
    loading = pages._models.use_model

    def finishing_while_loading(path):  # the model is the best so far, then the run finishes
        model = loading(path)
        runs.write_status(run, **{k: finished[k] for k in ("state", "best_step")})
        return model

    monkeypatch.setattr(pages._models, "use_model", finishing_while_loading)
    at = open_page("generate", session_state={"generate_run": quick_run_dir.name})
    number(at, "Length").set_value(20)
    button(at, "Generate").click().run()
    caption = next(c.value for c in at.caption if c.value.startswith("From "))
    assert "Written while the run was still training, by its best model so far (step 40)." in caption
