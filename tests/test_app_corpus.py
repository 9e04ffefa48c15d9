"""AppTest: the Corpus page (upload, CSV, paste, built-in, warnings)."""

from pathlib import Path

TEXT = "The lighthouse keeper wrote a letter every evening.\n" * 400  # about 20 KB


def button(at, label):
    return next(b for b in at.button if b.label == label)


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
