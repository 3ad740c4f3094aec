"""What every tab shares: turning backend errors into page messages, the examples, the CSS."""
from __future__ import annotations

import logging

import gradio as gr

from errors import UserError
from paths import EXAMPLES_DIR

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
