"""Stored text made safe to print: scanned banners, osquery fields and names come from hosts an
attacker may control, so they must neither be read as Rich markup nor reach the terminal as
escape sequences (hidden links, cleared screens, forged lines)."""
from __future__ import annotations

import re

from rich.markup import escape

# ESC sequences first (CSI `ESC [ ... final`, OSC `ESC ] ... BEL|ESC \`, any other `ESC x`), then
# every remaining C0 control, DEL and C1 control (0x80-0x9f, which some terminals also obey).
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.?|\x9b[0-?]*[ -/]*[@-~]")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROLS_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def plain(value: object, newlines: bool = False) -> str:
    """The text without escape sequences or control characters (newlines kept if asked)."""
    text = _ESCAPES.sub("", str(value))
    return (_CONTROLS_BUT_NEWLINE if newlines else _CONTROLS).sub("", text)


def safe(value: object, newlines: bool = False) -> str:
    """The text as Rich prints it literally: controls stripped, markup brackets escaped."""
    return escape(plain(value, newlines))
