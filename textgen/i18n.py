"""The interface in more than one language.

The English text is the key: a page writes ``translate("Start training", language)`` and
gets the English back whenever a catalog has no entry, so a forgotten string shows in
English instead of breaking the page. Catalogs are flat JSON files, textgen/locales/<code>.json,
mapping English templates to translated ones; both use the same ``{name}`` fields.
No Streamlit here: the pages decide which language is current.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

LANGUAGES = {"en": "English", "zh": "中文"}
DEFAULT_LANGUAGE = "en"
LOCALES_DIR = Path(__file__).resolve().parent / "locales"


@functools.cache
def catalog(language: str) -> dict[str, str]:
    """English template -> translated template; empty for English or an unknown language."""
    if language == DEFAULT_LANGUAGE or language not in LANGUAGES:
        return {}
    try:
        with open(LOCALES_DIR / f"{language}.json", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}  # a damaged install still shows the English interface


def translate(text: str, language: str = DEFAULT_LANGUAGE, **params) -> str:
    template = catalog(language).get(text, text)
    if not params:
        return template
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return text.format(**params)  # a faulty translation must not hide the message


def english(text: str, **params) -> str:
    """The default ``translate`` of textgen's figure and sentence builders: the English
    text, filled in. Pages pass their own (text, **params) -> str for the chosen language."""
    return text.format(**params) if params else text


class Message(str):
    """A sentence with numbers in it that is kept to be shown later, in any language: the
    English text, filled in, that also remembers its ``template`` and ``params``
    (``translate(message.template, language, **message.params)``), as TextgenError does.
    textgen.runs keeps both in status.json."""

    def __new__(cls, template: str, **params):
        message = super().__new__(cls, template.format(**params))
        message.template, message.params = template, params
        return message


def message_text(status: dict, translate=english) -> str:
    """The ``message`` of a status (status.json or a runs.run_summary dict) written with
    ``translate``: from its ``message_template`` and ``message_params`` where it keeps them
    (see Message), else the message as a catalog entry."""
    template, params = status.get("message_template"), status.get("message_params")
    if isinstance(template, str) and template:
        return translate(template, **(params if isinstance(params, dict) else {}))
    return translate(status.get("message") or "")


def join_sentences(sentences, language: str = DEFAULT_LANGUAGE) -> str:
    """Sentences of one message, the empty ones left out: Chinese runs them together,
    English puts a space between them."""
    return ("" if language == "zh" else " ").join(s for s in sentences if s)


def translate_error(error: BaseException, language: str = DEFAULT_LANGUAGE) -> str:
    """A TextgenError's sentence in ``language``, built from its template and params.

    A param that is itself a TextgenError (an import refused because of a bad run name)
    or a catalog entry (a file kind such as "a PNG image") is translated too; anything
    else (file names, numbers) is kept as it is.
    """
    template = getattr(error, "template", None)
    if not isinstance(template, str) or not template:
        return translate(str(error), language)
    params = {name: _translate_param(value, language) for name, value in getattr(error, "params", {}).items()}
    return translate(template, language, **params)


def _translate_param(value, language: str):
    if isinstance(value, BaseException):
        return translate_error(value, language)
    if isinstance(value, str):
        return translate(value, language)
    return value
