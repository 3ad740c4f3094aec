"""The one kind of error whose message a user sees.

`UserError` marks a mistake the user can fix (a bad text, setting or pasted config); the page and the
API show its message as is. Any other exception is an internal failure: logged on the server and shown
to the user only as a short generic message, so file paths and other internals never leave the server.
Raise UserError only with messages that name what the user sent, never a server path.
"""
import math

from text import tr


class UserError(ValueError):
    """A request the user can fix; its message is shown as is."""


def int_in_range(name: str, value: object, low: int, high: int) -> int:
    """An integer setting low..high (a float with an integer value is accepted, as sliders send them);
    UserError naming the setting otherwise."""
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value != int(value)
            or not low <= value <= high):
        raise UserError(tr("{name} must be an integer between {low} and {high}, got {value!r}", name=tr(name), low=low,
                           high=high, value=value))
    return int(value)
