"""Which route Train suggests for a text: fine-tuning the shipped base model or training from scratch."""

import pytest

from textgen import config, suggestions
from textgen.corpus import min_corpus_length
from textgen.errors import TextgenError
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


# --- settings suggested for a text's size ------------------------------------------


@pytest.mark.parametrize("device", ["cpu", "gpu"])
@pytest.mark.parametrize("chars", [5_000, 50_000, 300_000, 1_100_000, 20_000_000])
def test_every_suggestion_lies_inside_the_ranges_and_gives_its_reason_in_one_sentence(chars, device):
    found = suggestions.suggested_settings(chars, device)
    settings = found["settings"]
    assert set(settings) == {"arch", "layers", "units", "embedding_dim", "seq_len", "dropout", "time_budget"}
    for name in ("layers", "units", "embedding_dim", "seq_len", "dropout", "time_budget"):
        assert config.check_setting(name, settings[name]) == settings[name]
    config.resolve_config("balanced", device, **settings)  # a valid whole, Transformer heads included
    template, params = found["reason"]
    sentence = template.format(**params).replace("et al.", "et al")  # one sentence: no full stop inside
    assert sentence.endswith(".") and sentence.count(". ") == 0, sentence
    assert found["parameters"] == config.count_parameters(settings, suggestions.TYPICAL_CHAR_VOCABULARY)
    like = "gpu" if settings["arch"] == "transformer" else "cpu"  # the preset with this kind of network
    assert settings["seq_len"] == config.preset_values("balanced", like)["seq_len"]


@pytest.mark.parametrize("chars", [40, 400, 641, 700, 5_000, 1_100_000])
def test_the_suggested_sequence_length_fits_the_text(chars):
    preset = config.preset_values("balanced", "cpu")["seq_len"]
    seq_len = suggestions.suggested_settings(chars, "cpu")["settings"]["seq_len"]
    assert seq_len >= config.RANGES["seq_len"][1]
    if chars >= min_corpus_length(config.RANGES["seq_len"][1], 0.1):
        assert min_corpus_length(seq_len, 0.1) <= chars
    # the longest that fits: the preset's, or twice the suggestion does not fit
    assert seq_len == preset or min_corpus_length(2 * seq_len, 0.1) > chars
    halves = suggestions.suggested_settings(chars, "cpu", val_fraction=0.5)["settings"]["seq_len"]
    assert halves == config.RANGES["seq_len"][1] or min_corpus_length(halves, 0.5) <= chars


def test_a_tiny_ratio_is_given_to_two_significant_figures():
    found = suggestions.suggested_settings(450, "cpu")
    template, params = found["reason"]
    assert 0.001 < params["ratio"] < 0.01
    assert f"only {params['ratio']:.2g} tokens per parameter" in template.format(**params)
    assert "only 0.00 tokens" not in template.format(**params)


def test_a_small_text_gets_a_small_model_with_dropout_and_a_short_run():
    small = suggestions.suggested_settings(12_000, "cpu")
    settings = small["settings"]
    assert settings["layers"] == 1 and settings["units"] <= 256 and settings["dropout"] >= 0.2
    assert settings["time_budget"] <= 120
    assert small["tokens"] / small["parameters"] < 1  # far below Chinchilla's ~20
    assert "Hoffmann et al. 2022" in small["reason"][0]
    assert suggestions.suggested_settings(12_000, "gpu")["settings"] == settings  # start-up dominates


def test_a_larger_text_gets_a_larger_model_and_less_dropout():
    by_size = [suggestions.suggested_settings(chars, "cpu") for chars in (5_000, 50_000, 300_000, 1_100_000,
                                                                           20_000_000)]
    parameters = [found["parameters"] for found in by_size]
    dropouts = [found["settings"]["dropout"] for found in by_size]
    times = [found["settings"]["time_budget"] for found in by_size]
    assert parameters == sorted(parameters) and parameters[0] < parameters[-1] / 10
    assert dropouts == sorted(dropouts, reverse=True) and dropouts[-1] == 0.0
    assert times == sorted(times)
    medium = by_size[3]["settings"]  # tinyshakespeare's size: Balanced's shape, measured best without dropout
    assert (medium["arch"], medium["layers"], medium["units"], medium["dropout"]) == ("gru", 2, 256, 0.0)


def test_a_gpu_gets_the_transformer_for_a_large_text():
    large = suggestions.suggested_settings(20_000_000, "gpu")["settings"]
    assert large["arch"] == "transformer" and large["layers"] >= 6
    assert suggestions.suggested_settings(20_000_000, "cpu")["settings"]["arch"] == "gru"


def test_subword_tokens_cover_more_characters_so_the_same_text_counts_fewer_tokens():
    chars = 200_000
    char = suggestions.suggested_settings(chars, "cpu", "char")
    bpe = suggestions.suggested_settings(chars, "cpu", "bpe")
    assert bpe["tokens"] == int(chars / config.BPE_CHARS_PER_TOKEN) < char["tokens"] == chars
    assert bpe["settings"]["layers"] < char["settings"]["layers"]  # 83,000 tokens: a small text


def test_an_unknown_device_or_tokenizer_is_refused_with_a_sentence():
    with pytest.raises(TextgenError, match="Choose cpu or gpu"):
        suggestions.suggested_settings(1000, "tpu")
    with pytest.raises(TextgenError, match="Choose char, word or bpe"):
        suggestions.suggested_settings(1000, "cpu", "sentencepiece")
