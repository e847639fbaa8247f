"""``smsemu pdu`` and ``smsemu demo`` as real subprocesses: the contract of the README."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from pdu import Direction, SmsDeliver, SmsSubmit, decode, decode_sca, from_hex
from pdu.concat import reassemble

DELIVER = "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"
KEYS = {
    "tp_mti", "sca", "tp_oa", "tp_da", "tp_ra", "tp_mr", "tp_pid", "tp_dcs", "tp_scts",
    "tp_dt", "tp_vp", "tp_srr", "tp_sri", "tp_mms", "tp_rp", "tp_st", "tp_udl", "tp_udhi",
    "udh", "concat", "message_number", "text", "data", "tp_pi", "tp_cdl",
}  # fmt: skip


def smsemu(*args: str, columns: int = 100) -> subprocess.CompletedProcess[str]:
    """``smsemu ARGS`` on a terminal ``columns`` wide (as COLUMNS tells it)."""
    return subprocess.run(
        [sys.executable, "-m", "smsemu", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": str(columns)},
    )


def test_decode_json_uses_ts_23040_names() -> None:
    out = smsemu("pdu", "decode", DELIVER, "--sca", "--json")
    assert out.returncode == 0, out.stderr
    view = json.loads(out.stdout)
    assert view.keys() >= KEYS
    assert view["tp_mti"] == "SMS-DELIVER"
    assert view["sca"] == {"number": "+27381000015", "ton": 1, "npi": 1}
    assert view["tp_oa"]["number"] == "27838890001"
    assert view["tp_dcs"]["alphabet"] == "gsm7" and view["tp_dcs"]["class"] is None
    assert view["tp_scts"] == "1999-03-29T15:16:59+02:00"
    assert (view["tp_udl"], view["text"], view["tp_udhi"]) == (10, "hellohello", False)


def test_plain_decode_prints_fields() -> None:
    out = smsemu("pdu", "decode", DELIVER, "--sca")
    assert out.returncode == 0
    assert "text: hellohello" in out.stdout.splitlines()


def test_encode_a_long_message_with_a_number_and_decode_it_back() -> None:
    text = "Grüße aus smsemu! " * 12
    out = smsemu(
        "pdu", "encode", "--to", "+4915112345678", "--text", text, "--message-number", "5",
        "--srr", "--vp", "1d", "--sca", "+447785016005", "--ref", "77",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert len(lines) == 2  # 216 GSM 7-bit characters: 148 + 68 beside the number IE
    parts = []
    for line in lines:
        sca, tpdu = decode_sca(from_hex(line), Direction.MO)
        assert isinstance(tpdu, SmsSubmit) and sca is not None and str(sca) == "+447785016005"
        assert tpdu.tp_srr and tpdu.tp_vp is not None and tpdu.tp_vp.value == 167  # type: ignore[union-attr]
        parts.append(tpdu.tp_ud)
    assert reassemble(parts).body == text
    first = json.loads(smsemu("pdu", "decode", lines[0], "--mo", "--sca", "--json").stdout)
    assert first["message_number"] == 5
    assert first["concat"] == {"ref": 77, "total": 2, "seq": 1}


def test_encode_inline_deliver() -> None:
    out = smsemu(
        "pdu", "encode", "--to", "+1", "--from", "+15551234567", "--deliver", "--text", "hi",
        "--message-number", "7", "--carrier", "inline", "--scts", "2026-11-22T10:00:00-03:30",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    tpdu = decode(from_hex(out.stdout.strip()), Direction.MT)
    assert isinstance(tpdu, SmsDeliver)
    assert tpdu.tp_ud.body == "hi\u25a1007"
    assert tpdu.tp_scts.isoformat() == "2026-11-22T10:00:00-03:30"
    view = json.loads(smsemu("pdu", "decode", out.stdout.strip(), "--json").stdout)
    assert (view["text"], view["message_number"]) == ("hi\u25a1007", 7)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pdu", "decode", "0011223"], "error: at octet 3: odd number of hex digits"),
        (["pdu", "decode", DELIVER[:40], "--sca"], "error: at octet 19: truncated"),
        (["pdu", "decode", "03"], "error: at octet 0: TP-MTI 11 is reserved"),
        (["pdu", "explain", "zz"], "error: at octet 0:"),
        (["pdu", "encode", "--to", "+1", "--text", "x", "--deliver"], "error: --deliver needs"),
        (["pdu", "encode", "--to", "+1", "--text", "ж", "--alphabet", "gsm7"], "error: character"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    out = smsemu(*args)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert len(out.stderr.splitlines()) == 1
    assert out.stderr.startswith(message)


@pytest.mark.parametrize("iei", ["5", "0x00", "0x24", "0xA0", "256"])
def test_an_iei_that_is_not_sme_to_sme_is_refused(iei: str) -> None:
    """The message number's two octets under IEI 5 would be read as a
    malformed application-port element by every receiver."""
    out = smsemu(
        "pdu", "encode", "--to", "+1", "--text", "x", "--message-number", "1", "--iei", iei
    )
    assert out.returncode == 2 and out.stdout == ""
    assert "Traceback" not in out.stderr
    last = out.stderr.splitlines()[-1]
    assert last.startswith("smsemu pdu encode: error: argument --iei: IEI ")
    assert last.endswith("use the SME-to-SME range 0x80-0x9F")


def test_explain_shows_every_field() -> None:
    out = smsemu("pdu", "explain", DELIVER, "--sca")
    assert out.returncode == 0
    for name in ("SCA Address-Value", "TP-MMS", "TP-OA Type-of-Address", "TP-SCTS", "TP-UD"):
        assert name in out.stdout


def test_explain_of_a_broken_pdu_shows_what_it_read() -> None:
    out = smsemu("pdu", "explain", DELIVER[:40], "--sca")
    assert out.returncode == 2
    assert "TP-DCS" in out.stdout
    assert out.stderr.startswith("error: at octet 19")


def test_demo_round_trips() -> None:
    out = smsemu("demo")
    assert out.returncode == 0, out.stderr
    assert "demo: all messages delivered, reported and read" in out.stdout
    # The marks of docs/read-receipts.md §Conversations.
    assert "Read" in out.stdout and "Sent" in out.stdout
    assert "SMS-STATUS-REPORT TP-MR 0 TP-RA +15551234567" in out.stdout
    # The desktop's search (docs/history-query.md), relayed to the phone; the
    # server keeps nothing of it.
    assert "the desktop shows 5 results (complete)" in out.stdout
    assert "the IP server's temporary copy of the results: 0 rows left" in out.stdout


HEX_LINE = re.compile(r" +([0-9A-F]+)")


@pytest.mark.parametrize("columns", [100, 60])
def test_demo_fits_the_terminal(columns: int) -> None:
    out = smsemu("demo", columns=columns)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    # Each SMS-SUBMIT whole in hex, wrapped between octets: it decodes.
    parts = []
    for i, line in enumerate(lines):
        if (head := re.fullmatch(r" +alice -> SMS-SUBMIT TP-MR (\d+):(.*)", line)) is None:
            continue
        chunks = [head[2].strip()] if head[2] else []
        for following in lines[i + 1 :]:
            if (hexed := HEX_LINE.fullmatch(following)) is None:
                break
            chunks.append(hexed[1])
        assert chunks and all(len(chunk) % 2 == 0 for chunk in chunks), chunks
        tpdu = decode(from_hex("".join(chunks)), Direction.MO)
        assert isinstance(tpdu, SmsSubmit) and tpdu.tp_mr == int(head[1])
        parts.append(tpdu)
    assert len(parts) == 2
    body = reassemble(p.tp_ud for p in parts).body
    assert isinstance(body, str) and body.startswith("Hello Bob! This message is longer")
    # Sections: Bob's detach in the third; the fourth only its counts, the
    # status reports apart from the messages.
    section = {
        n: lines.index(next(x for x in lines if x.startswith(f"== {n}."))) for n in (3, 4, 5)
    }
    third = lines[section[3] : section[4]]
    detach = next(i for i, x in enumerate(third) if re.search(r"smsc: detached +msisdn=\+1555", x))
    assert detach < third.index("Bob attached again")
    fourth = [x for x in lines[section[4] + 1 : section[5]] if x]
    assert re.fullmatch(r"messages: +3 accepted, 3 delivered", fourth[0])
    assert re.fullmatch(r"status reports: +3 made, 3 delivered", fourth[1])
    assert fourth[2].startswith("database commits: ") and len(fourth) == 3


def test_an_interrupt_while_starting_is_an_exit_status_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGINT before the reactor runs (Ctrl-C, or ``up`` stopping a node that
    is still importing) ends the command with 130 and prints nothing."""
    from smsemu import cli

    def interrupted(_: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "runner", lambda _target: interrupted)
    assert cli.main(["pdu", "decode", "00"]) == cli.INTERRUPTED == 130
    assert capsys.readouterr() == ("", "")
