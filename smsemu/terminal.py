"""Lines for a terminal, fitted to its width (``smsemu demo``): ``say``
prints text so that no line is wider than the terminal, a long one wrapped
under a hanging indent, a hex dump cut only between octets."""

from __future__ import annotations

import re
import shutil
import sys

#: Columns when stdout is not a terminal and COLUMNS is not set; and the
#: fewest the demo wraps to (a narrower terminal wraps what is wider).
FALLBACK_COLUMNS, MIN_COLUMNS = 100, 40
#: How much deeper than its line's own indent a wrapped line goes on.
HANG = 4
_HEX = re.compile(r"[0-9A-F]+")


def columns() -> int:
    """The terminal's width (COLUMNS first, as ``shutil`` reads it)."""
    return max(MIN_COLUMNS, shutil.get_terminal_size((FALLBACK_COLUMNS, 24)).columns)


def wrap(line: str, width: int) -> list[str]:
    """``line`` in lines of at most ``width`` columns: cut at spaces, the
    rest under a hanging indent (its own indent plus HANG), so it reads as
    part of the line it continues, inside its section.  A word longer than a
    line is cut where it must; a hex dump (upper-case hex digits) only
    between octets."""
    if len(line) <= width:
        return [line]
    lead = min(len(line) - len(line.lstrip(" ")), width // 3)
    head, rest = " " * lead, line.lstrip(" ")
    hang = " " * min(lead + HANG, width // 3)
    out: list[str] = []
    while len(head) + len(rest) > width:
        room = width - len(head)
        cut = rest.rfind(" ", 0, room + 1)
        if cut > 0:
            piece, rest = rest[:cut].rstrip(" "), rest[cut:].lstrip(" ")
        else:
            if _HEX.fullmatch(rest.split(" ", 1)[0]):
                room -= room % 2
            piece, rest = rest[:room], rest[room:]
        out.append(head + piece)
        head = hang
    out.append(head + rest)
    return out


def say(text: str = "") -> None:
    """Print ``text`` fitted to the terminal: every line the demo prints goes
    through here."""
    width = columns()
    for line in text.split("\n"):
        for piece in wrap(line, width):
            print(piece)
    sys.stdout.flush()
