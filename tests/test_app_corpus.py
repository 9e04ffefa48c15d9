"""AppTest: the Corpus page (upload, CSV, paste, built-in, warnings)."""

from pathlib import Path

from tests.conftest import button

TEXT = "The lighthouse keeper wrote a letter every evening.\n" * 400  # about 20 KB


def spec_files(at) -> list[Path]:
    return [Path(p) for p in at.session_state["corpus_spec"]]


def test_corpus_page_offers_every_way_in(open_page):
    at = open_page("corpus")
    assert at.file_uploader[0].label == "Upload text files"
    assert at.file_uploader[0].accept_multiple_files
    assert at.text_area[0].label == "Paste text"
    assert at.radio[0].label == "Built-in corpus"
    # Until something is chosen, the built-in sample is described.
    assert any("Using:" in s.value for s in at.subheader)
    assert len(at.get("plotly_chart")) == 3


def test_uploading_text_files_stores_them_and_shows_statistics(open_page, app_home):
    at = open_page("corpus")
    at.file_uploader[0].set_value([("notes.txt", TEXT.encode("utf-8"), "text/plain"),
                                   ("more.md", "Ein Brief über Möwen.\n".encode("cp1252") * 300, "text/markdown")])
    at.run()
    assert not at.exception and not at.error
    files = spec_files(at)
    assert [f.name for f in files] == ["notes.txt", "more.md"]
    assert all(f.is_file() and (app_home / "corpora") in f.parents for f in files)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Characters"] == f"{len(TEXT) + 2 + len('Ein Brief über Möwen.') * 300 + 300:,}"
    assert "Windows-1252" in metrics["Encoding"] or "UTF-8" in metrics["Encoding"]
    assert len(at.get("plotly_chart")) == 3
    assert TEXT[:40] in at.code[0].value


def test_a_picture_gets_a_sentence_not_a_traceback(open_page):
    at = open_page("corpus")
    at.file_uploader[0].upload("holiday.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "image/png")
    at.run()
    assert not at.exception
    assert any("holiday.png looks like a PNG image" in e.value for e in at.error)
    assert "corpus_spec" not in at.session_state  # nothing usable was chosen


def test_csv_upload_uses_the_chosen_text_column(open_page):
    rows = "\n".join(f'{i},"Review number {i}: the soup was warm and the bread was fresh."' for i in range(300))
    at = open_page("corpus")
    at.file_uploader[0].upload("reviews.csv", f"id,review\n{rows}\n".encode(), "text/csv")
    at.run()
    assert not at.exception
    column = at.selectbox[0]
    assert column.label == "Text column of reviews.csv"
    assert column.value == "review"  # the column with the most text is preselected
    text = spec_files(at)[0].read_text()
    assert text.startswith("Review number 0: the soup")


def test_pasted_text_is_used_and_a_tiny_text_is_flagged(open_page):
    at = open_page("corpus")
    button(at, "Use this text").click().run()
    assert any("Paste some text" in w.value for w in at.warning)
    at.text_area[0].input("Too short to learn from.")
    button(at, "Use this text").click()
    at.run()
    assert not at.exception
    assert at.session_state["corpus_name"] == "pasted text"
    assert any("Too small for the chosen settings" in e.value for e in at.error)


SMALL = ("A cat sat on the mat. " * 20)[:311]


def test_before_train_is_opened_a_small_text_is_judged_by_the_fine_tune_train_will_open_on(open_page):
    at = open_page("corpus")
    at.text_area[0].input(SMALL)
    button(at, "Use this text").click().run()
    assert not at.exception
    # The shipped base model reads 64-token windows; 32 to 63 would still need 321 or more.
    said = [e.value for e in at.error if "Too small for the chosen settings" in e.value]
    assert len(said) == 1 and ("with a sequence length of 64 and a held-out share of 0.1 it needs at least "
                               "641. Add more text or set a sequence length of 31 or less.") in said[0]
    at.switch_page("pages/train.py").run()
    assert any(e.value in said[0] for e in at.error)  # Train says the same of the same settings


def test_after_train_chose_balanced_from_scratch_a_small_text_is_told_the_windows_it_starts_on(open_page):
    at = open_page("corpus", session_state={"train_settings": {"preset": "balanced", "seq_len": 256,
                                                                "val_fraction": 0.1, "init_from": None,
                                                                "follows_corpus": False}})
    at.text_area[0].input(SMALL)
    button(at, "Use this text").click().run()
    assert not at.exception
    # Balanced's windows start at 64 tokens (the box shows 256), and 32 to 63 need 321 or more.
    assert any("this run's windows start at 64 tokens and grow to its sequence length of 256" in e.value
               and e.value.endswith("set a sequence length of 31 or less.") for e in at.error)


def test_after_train_followed_a_large_texts_route_a_small_text_is_judged_by_the_fine_tune_train_will_open(
        open_page):
    at = open_page("train")  # the built-in sample: from scratch, a choice that follows the corpus
    assert next(s for s in at.selectbox if s.label == "Fine-tune from").value == "None (start from scratch)"
    at.switch_page("pages/corpus.py").run()
    at.text_area[0].input(SMALL)
    button(at, "Use this text").click().run()
    said = [e.value for e in at.error if "Too small for the chosen settings" in e.value]
    assert len(said) == 1 and "with a sequence length of 64 and a held-out share of 0.1" in said[0]
    at.switch_page("pages/train.py").run()
    assert any(e.value in said[0] for e in at.error)  # Train, now fine-tuning, says the same


def test_builtin_corpus_choice(open_page):
    at = open_page("corpus")
    at.radio[0].set_value("python-docs")
    button(at, "Use this corpus").click()
    at.run()
    assert not at.exception
    assert at.session_state["corpus_spec"] == ["builtin:python-docs"]
    assert any("python-docs" in s.value for s in at.subheader)


ACCENTED = "Café naïve résumé — “quoted”. "


def one_bad_byte_file() -> bytes:
    text = (ACCENTED * 200).encode("utf-8")
    return text[:3000] + b"\x92" + text[3000:]


def test_a_chinese_text_counts_each_character_as_a_word_and_says_so(open_page):
    at = open_page("corpus")
    at.text_area[0].input("灯塔守夜人点亮了灯。\n" * 100)  # nine characters and a full stop a line
    button(at, "Use this text").click().run()
    words = next(m for m in at.metric if m.label == "Words")
    assert words.value == "900" and "each Chinese character counts as one word" in words.proto.help


def test_bytes_left_out_of_an_upload_are_named_on_the_page(open_page):
    at = open_page("corpus")
    at.file_uploader[0].upload("one-bad-byte.txt", one_bad_byte_file(), "text/plain")
    at.run()
    assert not at.exception and not at.error
    warnings = [w.value for w in at.warning]
    assert "One byte of one-bad-byte.txt was not valid UTF-8 and was left out; it is on line 1." in warnings
    assert not any("did not read cleanly" in w for w in warnings)
    assert {m.label: m.value for m in at.metric}["Encoding"] == "UTF-8"
    at.session_state["lang"] = "zh"
    at.run()
    assert "one-bad-byte.txt 中有 1 个字节不是有效的 UTF-8，已略去；它在第 1 行。" in [w.value for w in at.warning]


def test_a_windows_1252_upload_and_a_chinese_file_name_are_shown_as_they_are(open_page):
    at = open_page("corpus")
    at.file_uploader[0].set_value([("春天.txt", "Le café était fermé, déjà vu.\n".encode("cp1252") * 50,
                                    "text/plain")])
    at.run()
    assert not at.exception and not at.error
    assert [f.name for f in spec_files(at)] == ["春天.txt"]
    assert any("Using: 春天.txt" in s.value for s in at.subheader)
    assert {m.label: m.value for m in at.metric}["Encoding"] == "Windows-1252"
    assert not any("did not read cleanly" in w.value or "not valid" in w.value for w in at.warning)
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert at.text_input(key="train_run_name").value.startswith("gru-春天-")


# --- titles, and what a refresh keeps ------------------------------------------------

PASTED = "Notes from the harbour office, first week:  \nthe tide came in twice; 潮水.\n" * 300


def paste(at, text, title=""):
    at.text_area[0].input(text)
    at.text_input(key="corpus_paste_title").input(title)
    button(at, "Use this text").click().run()


def refresh(at, open_page, page: str):
    """A refresh: a new session on the same workspace, opened on ``page``. AppTest runs a
    page without app.py after its first run (see run_through_app), so it first visits Home,
    which runs app.py and with it the saving of the choices after a page ran (a browser runs
    app.py around every page; tests/browser reload right on the page)."""
    at.switch_page("app.py").run()
    assert not at.exception
    return open_page(page)


def state_warnings(at) -> list[str]:
    """Streamlit's complaint about a widget given a value twice, wherever it would show."""
    texts = [e.value for e in (*at.warning, *at.error, *at.exception)]
    return [text for text in texts if "Session State API" in str(text)]


def test_pasted_text_gets_a_title_that_names_the_corpus_everywhere(open_page, app_home):
    at = open_page("corpus")
    title = at.text_input(key="corpus_paste_title")
    assert title.label == "Title" and title.placeholder == "pasted text"
    paste(at, PASTED, "Team notes")
    assert not at.exception and not at.error
    (path,) = spec_files(at)
    assert path.name == "Team notes.txt" and (app_home / "corpora") in path.parents
    assert path.read_bytes() == PASTED.encode("utf-8")  # the text's bytes, exactly
    assert at.session_state["corpus_name"] == "Team notes"
    assert any(s.value == "Using: Team notes" for s in at.subheader)
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert any("**Corpus:** Team notes" in m.value for m in at.markdown)
    assert "-Team-notes-" in at.text_input(key="train_run_name").value


def test_a_title_that_gives_no_name_falls_back_to_pasted_text(open_page):
    at = open_page("corpus")
    paste(at, PASTED, " /// ")
    assert not at.exception and not at.error
    assert [f.name for f in spec_files(at)] == ["pasted.txt"]
    assert at.session_state["corpus_name"] == "pasted text"


def test_an_upload_can_be_given_a_title(open_page):
    at = open_page("corpus")
    at.file_uploader[0].set_value([("notes.txt", TEXT.encode("utf-8"), "text/plain"),
                                   ("more.md", "Ein Brief über Möwen.\n".encode("cp1252") * 300, "text/markdown")])
    at.run()
    title = at.text_input(key="corpus_upload_title")
    assert title.placeholder == "notes.txt + more.md"  # left empty, the files name it
    assert at.session_state["corpus_name"] == "notes.txt + more.md"
    title.input("Letters 春天").run()
    assert not at.exception and not at.error
    (path,) = spec_files(at)
    assert path.name == "Letters 春天.txt"
    assert path.read_text(encoding="utf-8") == TEXT + "\n\n" + "Ein Brief über Möwen.\n" * 300
    assert any(s.value == "Using: Letters 春天" for s in at.subheader)


def test_a_single_titled_upload_keeps_its_bytes(open_page):
    data = "Le café était fermé, déjà vu.\n".encode("cp1252") * 100
    at = open_page("corpus")
    at.file_uploader[0].upload("cafe.txt", data, "text/plain")
    at.run()
    at.text_input(key="corpus_upload_title").input("Café").run()
    (path,) = spec_files(at)
    assert (path.name, path.read_bytes()) == ("Café.txt", data)
    assert {m.label: m.value for m in at.metric}["Encoding"] == "Windows-1252"


def test_a_refresh_keeps_the_pasted_text_its_title_and_the_chosen_corpus(open_page, app_home):
    at = open_page("corpus")
    paste(at, PASTED, "Team notes")
    again = refresh(at, open_page, "corpus")
    assert (app_home / "app-state.json").is_file()
    assert again.text_area[0].value == PASTED
    assert again.text_input(key="corpus_paste_title").value == "Team notes"
    assert [f.name for f in spec_files(again)] == ["Team notes.txt"]
    assert any(s.value == "Using: Team notes" for s in again.subheader)
    assert not state_warnings(again)
    again.switch_page("app.py").run()  # a visit to another page (Home, through app.py: see refresh)
    again.switch_page("pages/corpus.py").run()
    assert again.text_area[0].value == PASTED
    assert again.text_input(key="corpus_paste_title").value == "Team notes"
    again.switch_page("pages/train.py").run()
    assert any("**Corpus:** Team notes" in m.value for m in again.markdown)


def test_a_refresh_keeps_the_built_in_choice_across_a_language_switch(open_page):
    at = open_page("corpus")
    at.radio[0].set_value("python-docs")
    button(at, "Use this corpus").click().run()
    at.switch_page("app.py").run()  # see refresh
    again = open_page("corpus", session_state={"lang": "zh"})
    assert again.radio[0].value == "python-docs"
    assert again.session_state["corpus_spec"] == ["builtin:python-docs"]
    again.session_state["lang"] = "en"
    again.run()
    assert again.radio[0].value == "python-docs"
    assert any("python-docs" in s.value for s in again.subheader)


def test_a_remembered_corpus_that_was_deleted_quietly_falls_back_to_the_sample(open_page, app_home):
    import shutil

    at = open_page("corpus")
    paste(at, PASTED, "Team notes")
    at.switch_page("app.py").run()  # see refresh
    shutil.rmtree(app_home / "corpora")
    again = open_page("corpus")
    assert not again.exception and not again.error
    assert "corpus_spec" not in again.session_state
    (using,) = [s.value for s in again.subheader if s.value.startswith("Using:")]
    assert "sample" in using and "Team notes" not in using
    assert again.text_area[0].value == PASTED  # the box's text is still there to use again
