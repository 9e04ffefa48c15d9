"""textgen.highlight: text coloured by a value per character, and the Inside page's figures."""

from __future__ import annotations

import html
import math
import re

import numpy as np
import pytest

from textgen import highlight


def visible_text(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def spans(markup: str) -> list[tuple[str, str]]:
    """(style, text) of every coloured span."""
    return re.findall(r'<span style="([^"]*)"[^>]*>([^<]*)</span>', markup)


def test_the_text_is_escaped_and_comes_back_whole():
    text = '<script>alert("x")</script> & \'quotes\'\nline two'
    markup = highlight.coloured_html(text, np.linspace(-1, 1, len(text)))
    assert "<script>" not in markup and "alert(\"x\")" not in markup
    assert visible_text(markup) == text
    assert markup.startswith('<div class="textgen-highlight"') and "white-space: pre-wrap" in markup


def test_a_diverging_scale_colours_positive_red_and_negative_blue_by_size():
    markup = highlight.coloured_html("abc", [1.0, -0.5, 0.0], "diverging", high=1.0)
    styles = dict((text, style) for style, text in spans(markup))
    assert "rgba(214, 39, 40, 0.850)" in styles["a"]
    assert "rgba(31, 119, 180, 0.425)" in styles["b"]
    assert "rgba(214, 39, 40, 0.000)" in styles["c"]


def test_a_sequential_scale_runs_from_low_to_high_and_clips_beyond():
    assert highlight.background(1.0, "sequential", 0.0, 2.0) == "rgba(214, 39, 40, 0.425)"
    assert highlight.background(5.0, "sequential", 0.0, 2.0) == "rgba(214, 39, 40, 0.850)"
    assert highlight.background(-1.0, "sequential", 0.0, 2.0) == "rgba(214, 39, 40, 0.000)"


def test_the_scale_ends_default_to_the_largest_value():
    markup = highlight.coloured_html("ab", [0.2, 0.4], "sequential")
    assert [style for style, _ in spans(markup)] == [
        "background-color: rgba(214, 39, 40, 0.425)", "background-color: rgba(214, 39, 40, 0.850)"]
    markup = highlight.coloured_html("ab", [-0.2, 0.1], "diverging")
    assert "rgba(31, 119, 180, 0.850)" in markup and "rgba(214, 39, 40, 0.425)" in markup


def test_a_character_without_a_value_stays_uncoloured_and_runs_of_one_value_share_a_span():
    markup = highlight.coloured_html("abcd", [math.nan, 0.5, 0.5, math.nan])
    assert spans(markup) == [("background-color: rgba(214, 39, 40, 0.850)", "bc")]
    assert 'title="0.500"' in markup
    assert visible_text(markup) == "abcd"


def test_the_outline_frames_only_the_chosen_characters():
    markup = highlight.coloured_html("abcd", [0.5, 0.5, 0.5, 0.5], outline=range(1, 3))
    assert [(text, "outline" in style) for style, text in spans(markup)] == [
        ("a", False), ("bc", True), ("d", False)]


def test_values_that_do_not_match_the_text_or_an_unknown_scale_are_refused():
    with pytest.raises(ValueError):
        highlight.coloured_html("abc", [1.0, 2.0])
    with pytest.raises(ValueError):
        highlight.coloured_html("abc", [1.0, 2.0, 3.0], "rainbow")


def test_each_token_value_is_spread_over_the_characters_it_covers():
    values = highlight.per_character([(0, 1), (1, 4)], [1.0, 2.0], 5)
    assert values[:4].tolist() == [1.0, 2.0, 2.0, 2.0] and math.isnan(values[4])


def test_the_legend_names_both_ends_escaped():
    legend = highlight.legend_html("diverging", "−1 <low>", "+1 (high)")
    assert visible_text(legend).split() == ["−1", "<low>", "+1", "(high)"]
    assert "linear-gradient" in legend and "<low>" not in legend


def test_token_labels_look_like_the_tokens_and_stay_apart():
    labels = highlight.token_labels("a a\n", [(0, 1), (1, 2), (2, 3), (3, 4)])
    assert [label.strip("\u200b\u200c") for label in labels] == ["a", "␣", "a", "↵"]
    assert len(set(labels)) == 4  # the two "a" stay two columns of a heatmap


def test_the_attention_grid_has_one_heatmap_per_layer_and_head():
    weights = np.tril(np.ones((2, 3, 4, 4))) / np.arange(1, 5)[:, None]
    titles = [[f"L{i} H{j}" for j in range(3)] for i in range(2)]
    fig = highlight.attention_figure(weights, ["a", "b", "c", "d"], titles, "%{z}")
    assert [trace.type for trace in fig.data] == ["heatmap"] * 6
    assert [a.text for a in fig.layout.annotations] == [t for row in titles for t in row]


def test_the_token_map_labels_its_points_only_when_there_are_few():
    few = highlight.token_map_figure(np.zeros((3, 2)), ["a", "b", "c"], ("x", "y"))
    many = highlight.token_map_figure(np.zeros((500, 2)), [str(i) for i in range(500)], ("x", "y"))
    assert few.data[0].mode == "markers+text" and many.data[0].mode == "markers"
    assert list(many.data[0].text) == [str(i) for i in range(500)]  # still shown on hover
