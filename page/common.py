"""What every tab shares: turning backend errors into page messages, the examples, the CSS, and the
page's text in English and Russian. Static text goes through Gradio's i18n (the browser's language by
default, switchable in the page's settings); a script in the page mirrors the language Gradio shows into
the `moe_lang` cookie, and every handler (`localized`) reads its phrases (`text.tr`) in that language
(else the browser's Accept-Language), so computed titles, tables and messages follow the same switch."""
from __future__ import annotations

import functools
from collections.abc import Callable
import hashlib
import inspect
import json
import logging
import threading

import gradio as gr
from gradio.context import LocalContext

from backend.real_models import get_model, real_model_names
from errors import UserError
from paths import EXAMPLES_DIR
from text import LANGUAGES, en, reading, ru, tr

EXAMPLES = {p.stem: p.read_text(encoding="utf-8").strip() for p in sorted(EXAMPLES_DIR.glob("*.txt"))}
GENERIC_FAILURE = "Something went wrong on the server; the error was logged."
log = logging.getLogger("moe_app")

CSS = """
.token-strip {font-family: ui-monospace, monospace; line-height: 2.1; white-space: normal}
.token-strip .tok {display: inline-block; padding: 0 2px; margin: 1px; border-radius: 3px; white-space: pre; line-height: 1.6}
.strip-legend .legend {padding: 1px 5px; border-radius: 3px; font-size: 0.85em}
.dropped-legend {background: #fde0e0; color: #000}
.token-strip .tok {cursor: pointer}
#page-language {display: none}
.wide-table {overflow-x: auto}
.wide-table td, .wide-table th {word-break: normal !important; overflow-wrap: normal !important; hyphens: none}
"""
# Remembers the last token clicked in a token strip (captured before Gradio's own click handler runs), so
# that the strip's click event can send its position to the server.
PIN_SCRIPT = """<script>
document.addEventListener("click", (event) => {
  const token = event.target.closest && event.target.closest(".token-strip .tok");
  if (token) window.moePinnedToken = Number(token.dataset.pos);
}, true);
</script>"""
# Mirrors the language Gradio shows (the #page-language marker is translated like any static text) into a
# cookie that every request carries; when the reader switches language (or the page opens in another
# language than an earlier visit's cookie said, so the first requests read the old one), clicks the hidden
# button that recomputes what is on screen.
LANGUAGE_SCRIPT = """<script>
window.moeLanguage = null;
new MutationObserver(() => {
  const marker = document.querySelector("#page-language");
  const code = marker && marker.innerText.trim();
  if (!LANGUAGES.includes(code) || code === window.moeLanguage) return;
  const previous = (document.cookie.match(/(?:^|; )moe_lang=(\\w+)/) || [])[1];
  const changed = window.moeLanguage !== null || (previous !== undefined && previous !== code);
  window.moeLanguage = code;
  document.cookie = `moe_lang=${code}; path=/; SameSite=Lax`;
  if (changed) document.querySelector("#language-changed")?.click();
}).observe(document.documentElement, {subtree: true, childList: true, characterData: true});
</script>""".replace("LANGUAGES", json.dumps(list(LANGUAGES)))
HEAD = PIN_SCRIPT + LANGUAGE_SCRIPT


def _table(module) -> dict[str, str]:
    """A text module's KEY -> text entries."""
    return {name: value for name, value in vars(module).items() if name.isupper() and isinstance(value, str)}


def text_key(name: str) -> str:
    """The translation key of the static text `name` (a text/en.py constant's name)."""
    return "text_" + name.lower()


def label_key(text: str) -> str:
    """The translation key of a control label or button text: derived from its English text."""
    return "label_" + hashlib.sha1(text.encode()).hexdigest()[:12]


STRINGS = {"en": _table(en) | {"LANGUAGE_CODE": "en"}, "ru": _table(ru) | {"LANGUAGE_CODE": "ru"}}
# Control labels join the table as `l` meets them while the page is built, so the page's config carries
# only the phrases shown as labels, not every phrase in text/ru.PHRASES.
# Keys are namespaced ("text_...", "label_..."): the browser translates any displayed string equal to a key,
# so a bare "capacity" key turned the balancing variant named "capacity" into the CAPACITY explanation.
I18N = gr.I18n(**{language: {text_key(key): text for key, text in table.items()} for language, table in STRINGS.items()})


def t(key: str):
    """The static text `key` (a text/en.py constant's name) in the reader's language."""
    if key not in STRINGS["en"]:
        raise KeyError(f"no page text {key!r}")
    return I18N(text_key(key))


def l(text: str):
    """A control's label or a button's text in the reader's language; its English text is the key
    (the Russian is in text/ru.PHRASES; a missing one fails when the page is built)."""
    if text not in ru.PHRASES:
        raise KeyError(f"no Russian for the label {text!r} in text/ru.PHRASES")
    return i18n_entry({"en": text, "ru": ru.PHRASES[text]})


def i18n_entry(texts: dict[str, str]):
    """A label's text in each language joins the page's i18n table, keyed by its English text -> its i18n marker."""
    key = label_key(texts["en"])
    for code, text in texts.items():
        I18N.translations[code][key] = text
    return I18N(key)


def request_language(request) -> str:
    """The language a request reads: the page's `moe_lang` cookie, else the first supported language of
    its Accept-Language header, else English (API clients send neither)."""
    if request is None:
        return "en"
    cookie = request.cookies.get("moe_lang") if hasattr(request, "cookies") else None
    if cookie in LANGUAGES:
        return cookie
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return "en"


def localized(fn):
    """A page handler whose phrases (text.tr) read the requesting reader's language, generators included."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def stream(*args, **kwargs):
            steps = fn(*args, **kwargs)
            while True:  # Gradio sets the request before every step
                with reading(request_language(LocalContext.request.get(None))):
                    try:
                        value = next(steps)
                    except StopIteration:
                        return
                yield value
        stream.localized = True
        return stream

    @functools.wraps(fn)
    def call(*args, **kwargs):
        with reading(request_language(LocalContext.request.get(None))):
            return fn(*args, **kwargs)
    call.localized = True
    return call


def localize_handlers(demo: gr.Blocks) -> None:
    """Every handler of the page (and of its API) reads its phrases in the requesting reader's language."""
    for block_fn in demo.fns.values():
        if block_fn.fn is not None and not getattr(block_fn.fn, "localized", False):
            block_fn.fn = localized(block_fn.fn)


def language_marker() -> gr.Button:
    """The hidden marker the page script reads Gradio's current language from, and the hidden button it
    clicks when the reader switches (tabs attach their recomputation to its click)."""
    gr.Markdown(t("LANGUAGE_CODE"), elem_id="page-language")
    return gr.Button("language changed", visible="hidden", elem_id="language-changed")


def user_error(message: str) -> gr.Error:
    return gr.Error(message, print_exception=False)


def run_backend(fn, *args):
    """Call the backend. A mistake the user can fix (errors.UserError) becomes its message; anything else
    is logged with its traceback and shown only as a short generic message (no paths, no internals)."""
    try:
        return fn(*args)
    except UserError as e:
        raise user_error(str(e)) from None
    except Stopped:
        raise
    except Exception:
        log.exception("request failed")
        raise user_error(tr(GENERIC_FAILURE)) from None


ZOO = "zoo"  # the model choosers' value for "the zoo's models"


def real_choice(value) -> str | None:
    """A model chooser's value -> a loaded real model's name, or None for the zoo's."""
    return None if value in (None, "", ZOO) else value


def computed_label(make: Callable[[], str]):
    """A label computed from phrases (`make` calls text.tr), shown in the reader's language (see i18n_entry)."""
    texts = {}
    for code in LANGUAGES:
        with reading(code):
            texts[code] = make()
    return i18n_entry(texts)


def model_chooser(moe: bool, elem_id: str, visible: bool = True) -> gr.Dropdown:
    """The zoo or one of the loaded real models (`python app.py --model ...`) of one kind (MoE / dense), named in
    the reader's language."""
    zoo = l("the zoo's MoE (number of experts below)" if moe else "the zoo's twins (dense, dense-wide)")
    choices = [(zoo, ZOO)] + [(computed_label(lambda n=n: f"{n}: {get_model(n).spec.description}"), n)
                              for n in real_model_names(moe=moe)]
    return gr.Dropdown(choices, value=ZOO, label=l("MoE model" if moe else "Dense twin (same tokenizer)"), elem_id=elem_id,
                       visible=visible)


class Stopped(Exception):
    """Raised by a stoppable run's progress callback once its session asked it to stop."""


class StopRequests:
    """Per-session requests to stop a long run at its next step (a flag the run checks, not a cancellation: the work
    stops between two forward passes, and nothing half-done is shown). Sessions never see each other's flags."""

    def __init__(self):
        self._sessions: set[str] = set()
        self._lock = threading.Lock()

    def request(self, session: str) -> None:
        with self._lock:
            self._sessions.add(session)

    def clear(self, session: str) -> None:
        with self._lock:
            self._sessions.discard(session)

    def requested(self, session: str) -> bool:
        with self._lock:
            return session in self._sessions

    def progress(self, session: str, bar) -> Callable[[float, str], None]:
        """A backend progress callback: moves the page's progress bar, and raises Stopped once this session asked
        to stop (the backend calls it between forward passes)."""
        def report(fraction: float, desc: str) -> None:
            if self.requested(session):
                raise Stopped
            bar(fraction, desc=desc)
        return report
