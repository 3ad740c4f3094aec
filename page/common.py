"""What every tab shares: turning backend errors into page messages, the examples, the CSS, and the
page's static text in English and Russian (Gradio's i18n: the browser's language by default, switchable
in the page's settings)."""
from __future__ import annotations

import hashlib
import logging

import gradio as gr

from backend.real_models import get_model, real_model_names
from errors import UserError
from paths import EXAMPLES_DIR
from viz import page_text, page_text_ru

EXAMPLES = {p.stem: p.read_text(encoding="utf-8").strip() for p in sorted(EXAMPLES_DIR.glob("*.txt"))}
GENERIC_FAILURE = "Something went wrong on the server; the error was logged."
log = logging.getLogger("moe_app")

CSS = """
.token-strip {font-family: ui-monospace, monospace; line-height: 2.1; white-space: normal}
.token-strip .tok {display: inline-block; padding: 0 2px; margin: 1px; border-radius: 3px; white-space: pre; line-height: 1.6}
.strip-legend .legend {padding: 1px 5px; border-radius: 3px; font-size: 0.85em}
.dropped-legend {background: #fde0e0; color: #000}
.token-strip .tok {cursor: pointer}
"""
# Remembers the last token clicked in a token strip (captured before Gradio's own click handler runs), so
# that the strip's click event can send its position to the server.
PIN_SCRIPT = """<script>
document.addEventListener("click", (event) => {
  const token = event.target.closest && event.target.closest(".token-strip .tok");
  if (token) window.moePinnedToken = Number(token.dataset.pos);
}, true);
</script>"""


def _table(module) -> dict[str, str]:
    """A text module's KEY -> text entries."""
    return {name: value for name, value in vars(module).items() if name.isupper() and isinstance(value, str)}


def label_key(text: str) -> str:
    """The translation key of a control label or button text: derived from its English text."""
    return "label_" + hashlib.sha1(text.encode()).hexdigest()[:12]


STRINGS = {"en": _table(page_text), "ru": _table(page_text_ru)}
LABELS = {"en": {label_key(en): en for en in page_text_ru.LABELS}, "ru": {label_key(en): ru for en, ru in page_text_ru.LABELS.items()}}
I18N = gr.I18n(**{language: {key.lower(): text for key, text in table.items()} | LABELS[language]
                  for language, table in STRINGS.items()})


def t(key: str):
    """The static text `key` (a viz/page_text constant's name) in the reader's language."""
    if key not in STRINGS["en"]:
        raise KeyError(f"no page text {key!r}")
    return I18N(key.lower())


def l(text: str):
    """A control's label or a button's text in the reader's language; its English text is the key
    (the Russian is in viz/page_text_ru.LABELS; a missing one fails when the page is built)."""
    if text not in page_text_ru.LABELS:
        raise KeyError(f"no Russian for the label {text!r} in viz/page_text_ru.LABELS")
    return I18N(label_key(text))


def user_error(message: str) -> gr.Error:
    return gr.Error(message, print_exception=False)


def run_backend(fn, *args):
    """Call the backend. A mistake the user can fix (errors.UserError) becomes its message; anything else
    is logged with its traceback and shown only as a short generic message (no paths, no internals)."""
    try:
        return fn(*args)
    except UserError as e:
        raise user_error(str(e)) from None
    except Exception:
        log.exception("request failed")
        raise user_error(GENERIC_FAILURE) from None


ZOO = "zoo"  # the model choosers' value for "the zoo's models"


def real_choice(value) -> str | None:
    """A model chooser's value -> a loaded real model's name, or None for the zoo's."""
    return None if value in (None, "", ZOO) else value


def model_chooser(moe: bool, elem_id: str, visible: bool = True) -> gr.Dropdown:
    """The zoo or one of the loaded real models (`python app.py --model ...`) of one kind (MoE / dense)."""
    zoo = "the zoo's MoE (number of experts below)" if moe else "the zoo's twins (dense, dense-wide)"
    choices = [(zoo, ZOO)] + [(f"{n}: {get_model(n).spec.description}", n) for n in real_model_names(moe=moe)]
    return gr.Dropdown(choices, value=ZOO, label=l("MoE model" if moe else "Dense twin (same tokenizer)"), elem_id=elem_id,
                       visible=visible)
