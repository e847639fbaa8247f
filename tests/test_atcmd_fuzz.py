"""Arbitrary bytes never break the interpreter: no exception, and every line
that holds a command ends with exactly one final result code."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from .atfake import FakeHandset

FINAL = re.compile(rb"\r\n(OK|ERROR|\+CM[ES] ERROR: [^\r]*)\r\n")
NUMERIC_FINAL = re.compile(rb"(?:\A|\n)(?:[0-8]|\+CM[ES] ERROR: [^\r]*)\r(?!\n)")

commands = st.sampled_from(
    [
        b"AT",
        b"ATE1",
        b"ATV1",
        b"AT+CMGF=1",
        b"AT+CMGF=0",
        b"AT+CMGL=4",
        b"AT+CMGR=1",
        b"AT+CPMS?",
        b'AT+CSCS="UCS2"',
        b"AT+CMGS=5",
        b'AT+CMGS="+1555"',
        b"A/",
        b"AT+CNMI=2,1",
        b"ATZ",
    ]
)
noise = st.binary(max_size=40)
chunks = st.lists(st.one_of(commands, noise), max_size=12)


@settings(max_examples=300)
@given(chunks, st.lists(st.integers(1, 7), min_size=1, max_size=5))
def test_arbitrary_bytes_never_raise(parts: list[bytes], splits: list[int]) -> None:
    phone = FakeHandset()
    phone.put(0, b"\x00\x04\x0b\x91")  # a stored message that is no PDU
    data = b"\r".join(parts) + b"\r"
    i = 0
    for size in splits * (len(data) // sum(splits) + 1):
        phone.send(data[i : i + size])
        i += size
        if i >= len(data):
            break
    phone.send(b"\x1b\r")  # out of any prompt
    phone.command("ATE0V1Q0")
    assert phone.command("AT") == b"\r\nOK\r\n"


def _edited(line: bytes) -> bytes:
    """The line as V.250 framing leaves it: control characters dropped,
    backspace taking back the character before it."""
    out = bytearray()
    for b in line:
        if b == 0x08:
            if out:
                out.pop()
        elif b >= 0x20:
            out.append(b)
    return bytes(out)


FORMAT = b"ATE0V1Q0S3=13S4=10S5=8\r"
lines = st.one_of(
    st.binary(max_size=60),
    st.binary(max_size=60).map(lambda b: b"AT" + b),
    st.lists(commands, min_size=1, max_size=3).map(lambda c: b";".join(c)),
    st.sampled_from([b"ATV0", b"ATQ1", b"ATE1", b"ATV0+CMGL=?", b"ATQ1+CGMI"]),
)


@settings(max_examples=300)
@given(st.lists(lines.filter(lambda b: b"\r" not in b and b"/" not in b), max_size=8))
def test_each_command_line_gets_one_final_result_code(sent: list[bytes]) -> None:
    phone = FakeHandset()
    for line in sent:
        assert phone.send(FORMAT).endswith(b"\r\nOK\r\n")
        answer = phone.send(line + b"\r")
        if phone.modem.request is None and answer.endswith(b"\r\n> "):
            answer += phone.send(b"\x1b")  # AT+CMGS / AT+CMGW: leave the prompt
        if not _edited(line).strip():
            assert answer == b""
            continue
        shown = answer.replace(b"\r\n> ", b"")
        fmt = phone.modem.session.settings.format  # the line may have changed it
        if fmt.quiet:
            assert not FINAL.search(shown) and not NUMERIC_FINAL.search(shown)
            continue
        finals = list((FINAL if fmt.verbose else NUMERIC_FINAL).finditer(shown))
        assert len(finals) == 1 and finals[0].end() == len(shown), (line, answer)
