"""AppTest: the Inside page (a run chosen on the page or by ?run=NAME, the text to look at,
and each view for a GRU, an LSTM, a Transformer and the shipped base model)."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from textgen import heldout

APP_ROOT = Path(__file__).resolve().parent.parent

VIEWS = ("Neurons", "Attention", "Surprise", "Why this character?", "Token map")
BASE_MODEL = APP_ROOT / "assets" / "base-model"


def add_runs(app_home: Path, tiny_runs: dict, *archs: str) -> None:
    for arch in archs:
        shutil.copytree(tiny_runs[arch], app_home / "runs" / f"tiny-{arch}")


def open_inside(run: str | None = None, session_state: dict | None = None) -> AppTest:
    """An AppTest of app.py showing the Inside page, opened by a link with ?run=``run``."""
    at = AppTest.from_file(str(APP_ROOT / "app.py"), default_timeout=180)
    if run is not None:
        at.query_params["run"] = run
    for key, value in (session_state or {}).items():
        at.session_state[key] = value
    at.run()
    at.switch_page("pages/inside.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def show_view(at: AppTest, view: str, language: str = "en") -> AppTest:
    """Open the tab ``view`` (its English name; only the open tab is computed)."""
    at.session_state[f"inside_view_{language}"] = view
    return at.run()


def problems(at: AppTest) -> list[str]:
    return [e.value for e in at.exception] + [e.value for e in at.error]


def coloured_texts(at: AppTest) -> list[str]:
    return [h.proto.body for h in at.get("html") if "textgen-highlight" in h.proto.body]


def chosen_model(at: AppTest) -> str:
    return Path(next(s for s in at.selectbox if s.label == "Model").value).name


@pytest.mark.parametrize("arch", ["gru", "lstm", "transformer"])
def test_every_view_renders_for_a_run_of_each_architecture(app_home, tiny_runs, arch):
    add_runs(app_home, tiny_runs, arch)
    at = open_inside(f"tiny-{arch}")
    assert chosen_model(at) == f"tiny-{arch}"
    assert [tab.label for tab in at.tabs] == list(VIEWS)
    for view in VIEWS:
        show_view(at, view)
        assert problems(at) == [], view
    show_view(at, "Neurons")
    infos = " ".join(i.value for i in at.info)
    if arch == "transformer":
        assert "This view is for recurrent models" in infos and not coloured_texts(at)
    else:
        assert "This view is for recurrent models" not in infos and coloured_texts(at)
    show_view(at, "Attention")
    infos = " ".join(i.value for i in at.info)
    if arch == "transformer":
        assert len(at.get("plotly_chart")) == 1 and coloured_texts(at)
        (lens,) = [d.value for d in at.dataframe]
        assert list(lens.columns) == ["Stage", "Likeliest next"] and lens["Stage"].iloc[0] == "After the embedding"
    else:
        assert "This view is for Transformer models" in infos and not at.get("plotly_chart")
    show_view(at, "Surprise")
    assert coloured_texts(at) and [m.label for m in at.metric] == ["Nats per character", "Bits per character"]
    show_view(at, "Why this character?")
    assert coloured_texts(at)
    show_view(at, "Token map")
    assert len(at.get("plotly_chart")) == 1
    (neighbours,) = [d.value for d in at.dataframe]
    assert list(neighbours.columns) == ["Token", "Similarity (cosine)"] and len(neighbours) == 8


def test_the_link_opens_its_run_and_the_address_follows_the_choice(app_home, tiny_runs):
    add_runs(app_home, tiny_runs, "gru", "transformer")
    for name in ("tiny-gru", "tiny-transformer"):
        at = open_inside(name)
        assert chosen_model(at) == name and at.query_params["run"] == name
    # A choice on the page wins over the link it was opened by, and the address follows it.
    model = next(s for s in at.selectbox if s.label == "Model")
    model.set_value(str(app_home / "runs" / "tiny-gru")).run()
    assert chosen_model(at) == "tiny-gru" and at.query_params["run"] == "tiny-gru"
    at.run()
    assert chosen_model(at) == "tiny-gru"


def test_an_unknown_run_name_gets_a_sentence_and_the_choice_is_shown(app_home, tiny_runs):
    add_runs(app_home, tiny_runs, "gru")
    at = open_inside("no-such-run")
    assert [e.value for e in at.error] == [
        "There is no finished run named no-such-run. Choose one of the models below."]
    assert chosen_model(at) in ("tiny-gru", "base-model")
    assert at.query_params["run"] == chosen_model(at)  # the address names the run shown


def test_the_pattern_search_shows_the_best_units_over_the_text(app_home, tiny_runs):
    add_runs(app_home, tiny_runs, "gru")
    at = open_inside("tiny-gru", {"inside_source": "typed",
                                  "inside_typed": 'The keeper said "the lamp is lit" (and the sea) at dawn.\n'})
    assert problems(at) == []
    units = [m.value for m in at.markdown if m.value.startswith("**Unit ")]
    assert len(units) == 4 and all("score" in u for u in units)
    # The marked characters, the chosen unit and each of the best units, over the text.
    assert len(coloured_texts(at)) == 2 + len(units)
    next(s for s in at.selectbox if s.label == "Pattern").set_value("span").run()
    start, end = (next(n for n in at.number_input if n.label == label)
                  for label in ("From character", "To character (not included)"))
    start.set_value(4).run()
    assert problems(at) == [] and len([m for m in at.markdown if m.value.startswith("**Unit ")]) == 4


def test_a_pattern_the_text_lacks_gets_a_hint_instead_of_units(app_home, tiny_runs):
    add_runs(app_home, tiny_runs, "gru")
    at = open_inside("tiny-gru", {"inside_source": "typed", "inside_typed": "The keeper watched the lamp."})
    next(s for s in at.selectbox if s.label == "Pattern").set_value("quotes").run()
    assert problems(at) == []
    assert any(i.value.startswith("Mark some characters of the text") for i in at.info)
    assert not [m for m in at.markdown if m.value.startswith("**Unit ")]


def test_a_character_the_model_never_saw_gets_a_sentence_in_the_view(app_home, tiny_runs):
    add_runs(app_home, tiny_runs, "gru")
    at = open_inside("tiny-gru", {"inside_source": "typed", "inside_typed": "The keeper ꙮ"})
    assert not at.exception
    assert at.error and "ꙮ" in at.error[0].value


def test_a_passage_of_the_held_out_text_is_kept_inside_the_text_and_through_a_visit_to_another_page(app_home, tiny_runs):
    add_runs(app_home, tiny_runs, "transformer")
    at = open_inside("tiny-transformer", {"inside_source": "held_out"})
    show_view(at, "Surprise")
    assert problems(at) == []
    length = next(n for n in at.number_input if n.label == "Length (characters)")
    assert length.value == 500
    length.set_value(99_999).run()  # typed past the most analysed at once: the box shows what is used
    length = next(n for n in at.number_input if n.label == "Length (characters)")
    assert length.value == 2000 and problems(at) == []
    said = "Length (characters) goes from 2 to 2,000 here, so 99,999 became 2,000."
    assert [toast.value for toast in at.toast] == [said]
    length.set_value(500).run()
    assert not at.toast  # said once, when it happened
    # Past the end: the last passage that still holds the two characters a view needs.
    config = json.loads((app_home / "runs" / "tiny-transformer" / "config.json").read_text(encoding="utf-8"))
    held_out = heldout.rebuild_held_out(config)
    start = next(n for n in at.number_input if n.label == "From character")
    start.set_value(10**9).run()
    assert next(n for n in at.number_input if n.label == "From character").value == len(held_out) - 2
    assert html.unescape(re.sub(r"<[^>]+>", "", coloured_texts(at)[0])) == held_out[-2:]
    # The passage chosen stays chosen through a visit to another page.
    at.switch_page("pages/runs.py").run()
    at.switch_page("pages/inside.py").run()
    assert next(n for n in at.number_input if n.label == "From character").value == len(held_out) - 2
    start = next(n for n in at.number_input if n.label == "From character")
    start.set_value(0)
    show_view(at, "Surprise")
    assert html.unescape(re.sub(r"<[^>]+>", "", coloured_texts(at)[0])) == held_out[:500]


def test_the_shipped_base_model_opens_in_every_view(app_home):
    at = open_inside("base-model")
    assert chosen_model(at) == BASE_MODEL.name
    for view in VIEWS:
        show_view(at, view)
        assert problems(at) == [], view
    show_view(at, "Neurons")
    assert coloured_texts(at)


def test_without_a_finished_model_the_page_explains_and_links_to_train(app_home, no_shipped_models):
    at = open_inside()
    assert any("no finished model yet" in i.value for i in at.info)
    assert not at.tabs


def test_the_page_speaks_chinese(app_home, tiny_runs):
    add_runs(app_home, tiny_runs, "gru")
    at = open_inside("tiny-gru", {"lang": "zh"})
    assert at.title[0].value == "模型内部"
    assert [tab.label for tab in at.tabs][0] == "神经元"
    show_view(at, "惊讶度", language="zh")
    assert problems(at) == [] and coloured_texts(at)
