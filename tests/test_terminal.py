"""``smsemu.terminal``: the demo's lines fitted to a terminal's width."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from smsemu.terminal import HANG, wrap

words = st.text(st.characters(codec="ascii", categories=["L", "N", "P"]), min_size=1, max_size=30)
hexdumps = st.binary(min_size=1, max_size=200).map(lambda b: b.hex().upper())
lines = st.builds(
    lambda indent, tokens: " " * indent + " ".join(tokens),
    st.integers(0, 12),
    st.lists(st.one_of(words, hexdumps), min_size=1, max_size=20),
)


@given(lines, st.integers(40, 120))
def test_no_line_is_wider_and_nothing_is_lost(line: str, width: int) -> None:
    pieces = wrap(line, width)
    assert all(len(p) <= width for p in pieces)
    assert "".join(line.split()) == "".join("".join(p.split()) for p in pieces)
    if len(pieces) > 1:
        indent = len(line) - len(line.lstrip())
        hang = min(min(indent, width // 3) + HANG, width // 3)
        assert all(p.startswith(" " * hang) and p[hang] != " " for p in pieces[1:])


@given(hexdumps, st.integers(40, 120))
def test_a_hex_dump_is_cut_between_octets(dump: str, width: int) -> None:
    pieces = wrap(f"   alice -> SMS-SUBMIT TP-MR 0: {dump}", width)
    if len(pieces) > 1:
        chunks = [p.strip() for p in pieces[1:]]
        assert "".join(chunks) == dump and all(len(c) % 2 == 0 for c in chunks)


def test_a_line_that_fits_is_left_as_it_is() -> None:
    line = " " * 61 + "plan ISDN/telephone"
    assert wrap(line, 80) == [line]
