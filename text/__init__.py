"""The page's words in English and Russian, and the language one request reads them in.

`text/en.py` and `text/ru.py` hold the explanations (named constants, served through Gradio's i18n);
`text/ru.py`'s PHRASES hold every short phrase the page computes per request (chart titles and axes,
table headers, status lines, findings, error messages), keyed by the English template, gettext style.
`tr(template, **values)` formats a phrase in the language of the current request, which the page sets
for the length of one handler call (`reading`); anything outside a request (the API's JSON, the
benchmarks, the tests) reads English. Imports nothing of ours, so every package may use it.
"""
from __future__ import annotations

import contextlib
from contextvars import ContextVar

from text import en, ru

LANGUAGES = ("en", "ru")
_language: ContextVar[str] = ContextVar("page_language", default="en")


def language() -> str:
    """The current request's language code ('en' outside a request)."""
    return _language.get()


@contextlib.contextmanager
def reading(code: str):
    """Phrases formatted inside read `code` (one of LANGUAGES; anything else reads English)."""
    token = _language.set(code if code in LANGUAGES else "en")
    try:
        yield
    finally:
        _language.reset(token)


def explanation(key: str) -> str:
    """The text/en.py constant `key` in the current language (for explanations a handler returns)."""
    return getattr(ru if _language.get() == "ru" else en, key)


def tr(template: str, **values) -> str:
    """`template` (English, str.format placeholders) in the current language, filled with values.
    A phrase without a Russian entry reads English (a test finds every such call)."""
    if _language.get() == "ru":
        template = ru.PHRASES.get(template, template)
    return template.format(**values)
