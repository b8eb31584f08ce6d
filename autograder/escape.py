"""Text a student chose (an id, a folder name, what a notebook holds), made harmless where an
instructor reads it: in a spreadsheet (``cell``) and on a terminal (``terminal``)."""

import numbers
import re

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")   # OWASP's CSV injection rule
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")   # C0 but newline, DEL, C1


def cell(value):
    """``value`` for a CSV cell: a text a spreadsheet would read as a formula gets a leading
    apostrophe; numbers (and None) stay as they are."""
    if value is None or isinstance(value, numbers.Number):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def terminal(text):
    """``text`` with every control character but newline shown as an escape (``\\x1b``), so that it
    cannot move the cursor, retitle the window or set the clipboard of the terminal showing it."""
    return CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", str(text))
