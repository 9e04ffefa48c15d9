"""Which route Train suggests for a text: fine-tuning the shipped base model or training from scratch."""

import pytest

from textgen import suggestions
from textgen.files import atomic_write_json
from textgen.tokenizers import CharTokenizer, WordTokenizer

ENGLISH = "The keeper lit the lamp at dusk, and the gulls went quiet over the harbour.\n"


@pytest.fixture
def base(tmp_path):
    """A base run's folder: a character vocabulary of English letters, pre-trained on builtin:sample."""
    run = tmp_path / "base"
    run.mkdir()
    atomic_write_json(run / "tokenizer.json", CharTokenizer.fit(ENGLISH).to_dict())
    atomic_write_json(run / "config.json", {"corpus": {"sources": ["builtin:sample"], "chars": 1_500_000}})
    return run


def test_a_small_text_the_base_knows_is_suggested_for_fine_tuning(base):
    advice = suggestions.base_advice(ENGLISH * 100, base, ["team.txt"])
    assert advice["route"] == "fine-tune" and advice["known_share"] == 1.0 and advice["chars"] == 7600
    sentence = suggestions.advice_sentence(advice, "base", chosen=True)
    assert sentence == ("Your text is small (7,600 characters), so this run fine-tunes the shipped base model, "
                        "which already knows 100.0% of its characters and within a minute writes more like "
                        "your text than a model started from scratch.")
    assert suggestions.advice_sentence(advice, "base", chosen=False) is None


def test_a_small_chinese_text_is_not_suggested_for_an_english_base(base):
    text = "春天来了，山村里的桃花开了。" * 50 + ENGLISH
    advice = suggestions.base_advice(text, base, ["春天.txt"])
    assert advice["route"] == "scratch"
    assert advice["known_share"] == pytest.approx(len(ENGLISH) / len(text))
    for chosen in (True, False):
        sentence = suggestions.advice_sentence(advice, "base", chosen=chosen)
        assert sentence.startswith(f"The base model base knows only {advice['known_share']:.0%} of this text's")
        assert "likely to do worse than training from scratch" in sentence


def test_a_large_text_gets_no_suggestion_either_way(base):
    advice = suggestions.base_advice(ENGLISH * 1400, base, ["big.txt"])
    assert advice["chars"] >= suggestions.SMALL_TEXT_CHARS and advice["route"] is None
    assert suggestions.advice_sentence(advice, "base", chosen=True) is None


def test_a_text_the_base_was_pre_trained_on_is_not_suggested_and_says_why(base):
    advice = suggestions.base_advice(ENGLISH * 100, base, ["builtin:sample"])
    assert advice["route"] == "seen" and advice["seen"] == ["builtin:sample"]
    assert "pre-trained on builtin:sample already" in suggestions.advice_sentence(advice, "base", chosen=True)
    assert suggestions.advice_sentence(advice, "base", chosen=False) is None


def test_one_unknown_character_in_a_hundred_keeps_the_suggestion_two_lose_it(base):
    known = "a" * 98
    assert suggestions.known_share(CharTokenizer.fit("a"), known + "b" + "a") == 0.99
    assert suggestions.base_advice(known + "éa", base)["route"] == "fine-tune"
    assert suggestions.base_advice(known + "éè", base)["route"] == "scratch"


def test_a_word_base_knows_the_characters_its_words_cover():
    tokenizer = WordTokenizer.fit("the lamp the harbour")
    share = suggestions.known_share(tokenizer, "the lamp the gull")
    assert share == pytest.approx(1 - len("gull") / len("the lamp the gull"))
