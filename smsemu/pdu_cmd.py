"""``smsemu pdu decode|encode|explain``: the codec on the command line.

The output of ``decode --json`` and ``encode`` is a contract scripts rely on
(README, "The pdu command").  Bad input exits 2 with one line on stderr,
``error: at octet N: reason``, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pdu import (
    Address,
    Alphabet,
    DataCodingScheme,
    Direction,
    EnhancedVP,
    PDUError,
    RelativeVP,
    SmsDeliver,
    SmsSubmit,
    Tpdu,
    ValidityPeriod,
    encode,
    encode_sca,
    from_hex,
    to_hex,
)
from pdu.concat import split
from pdu.explain import LAYERS, explain, render
from pdu.jsonview import decode_json
from pdu.message_number import MARKER, Carrier
from pdu.udh import IEI_MESSAGE_NUMBER, check_message_number_iei

from .errors import CommandError

_DURATION = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_vp(spec: str) -> ValidityPeriod:
    """``30m``, ``12h``, ``2d``, ``1w`` or a sum like ``1d12h`` (relative, rounded
    up to the next value TP-VP can say); ``rel:N`` (the raw octet);
    ``enh:DURATION`` (enhanced format); an ISO 8601 time with zone (absolute)."""
    if spec.startswith("rel:") and spec[4:].isdigit():
        return RelativeVP(int(spec[4:]))
    enhanced = spec.startswith("enh:")
    body = spec[4:] if enhanced else spec
    if re.fullmatch(r"(\d+[smhdw])+", body):
        period = timedelta()
        for count, unit in _DURATION.findall(body):
            period += timedelta(**{_UNITS[unit]: int(count)})
        return EnhancedVP.of(period) if enhanced else RelativeVP.at_least(period)
    return _iso(spec, "--vp", "30m, 12h, 2d, 1w, rel:N, enh:30s or an ISO 8601 time")


def _iso(text: str, option: str, expected: str = "an ISO 8601 time with zone") -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise PDUError(f"{option} {text!r}: expected {expected}") from None


def _octet_arg(text: str) -> int:
    value = int(text, 0)
    if not 0 <= value <= 255:
        raise argparse.ArgumentTypeError(f"{text} is not 0-255")
    return value


def _iei_arg(text: str) -> int:
    try:
        iei = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number like 0x80") from None
    try:
        return check_message_number_iei(iei)
    except PDUError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(sub: Any) -> None:
    p = sub.add_parser("pdu", help="encode, decode and explain GSM TPDUs")
    psub = p.add_subparsers(dest="pdu_command", required=True)

    def direction_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("hex", help="the PDU in hex (white space ignored)")
        g = q.add_mutually_exclusive_group()
        g.add_argument(
            "--mt",
            dest="direction",
            action="store_const",
            const=Direction.MT,
            help="SC -> MS (SMS-DELIVER, -STATUS-REPORT, -SUBMIT-REPORT); default",
        )
        g.add_argument(
            "--mo",
            dest="direction",
            action="store_const",
            const=Direction.MO,
            help="MS -> SC (SMS-SUBMIT, -COMMAND, -DELIVER-REPORT)",
        )
        q.set_defaults(direction=Direction.MT)
        q.add_argument(
            "--sca",
            action="store_true",
            help="the hex starts with the SMSC address field (AT PDU mode)",
        )

    d = psub.add_parser("decode", help="decode one PDU")
    direction_args(d)
    d.add_argument("--json", action="store_true", help="one JSON object, TS 23.040 key names")
    d.add_argument(
        "--iei",
        type=_octet_arg,
        default=IEI_MESSAGE_NUMBER,
        help="IEI of the message-number element (default 0x80)",
    )
    d.set_defaults(run=run_decode)

    x = psub.add_parser(
        "explain", help="every octet of a PDU (TPDU, RP message, SMPP PDU), field by field"
    )
    direction_args(x)
    x.add_argument(
        "--layer",
        choices=LAYERS,
        default="auto",
        help="tpdu (TS 23.040), rp (TS 24.011 RP message), smpp (SMPP 3.4 PDU); "
        "auto (default): SMPP when the octets frame as one SMPP PDU, else a TPDU",
    )
    x.set_defaults(run=run_explain)

    e = psub.add_parser("encode", help="encode a text as one TPDU per part")
    e.add_argument("--to", required=True, help="recipient (+international, national digits)")
    e.add_argument("--text", required=True, help="the message; long ones are split into parts")
    e.add_argument("--from", dest="sender", help="originator: TP-OA of an SMS-DELIVER")
    e.add_argument(
        "--deliver", action="store_true", help="make SMS-DELIVER (SC -> MS) instead of SMS-SUBMIT"
    )
    e.add_argument(
        "--alphabet",
        choices=["auto", "gsm7", "ucs2", "8bit"],
        default="auto",
        help="8bit sends the UTF-8 octets of --text",
    )
    e.add_argument("--message-number", type=_octet_arg, help="read-receipt number 0-255")
    e.add_argument(
        "--carrier",
        choices=[c.value for c in Carrier],
        default="udh",
        help="carry the number in a UDH element or as a trailing □NNN",
    )
    e.add_argument(
        "--iei",
        type=_iei_arg,
        default=IEI_MESSAGE_NUMBER,
        help="IEI of the message-number element, SME-to-SME range 0x80-0x9F (default 0x80)",
    )
    e.add_argument("--marker", default=MARKER, help="inline marker (default □)")
    e.add_argument(
        "--srr", action="store_true", help="request a status report (TP-SRR; TP-SRI with --deliver)"
    )
    e.add_argument("--vp", help="validity: 30m, 12h, 2d, 1w, rel:N, enh:30s, or ISO time")
    e.add_argument("--sca", help="prefix the SMSC address field (AT PDU mode)")
    e.add_argument(
        "--class",
        dest="message_class",
        type=int,
        choices=range(4),
        help="TP-DCS message class 0-3 (0: flash)",
    )
    e.add_argument(
        "--mr", type=_octet_arg, default=0, help="TP-MR of the first part; later parts count on"
    )
    e.add_argument("--ref", type=int, help="concatenation reference (default random)")
    e.add_argument("--ref16", action="store_true", help="16-bit concatenation reference")
    e.add_argument("--scts", help="TP-SCTS of an SMS-DELIVER, ISO 8601 (default now)")
    e.set_defaults(run=run_encode)


def run_decode(args: argparse.Namespace) -> int:
    data = from_hex(args.hex)
    view = decode_json(data, args.direction, sca=args.sca, message_number_iei=args.iei)
    if args.json:
        print(json.dumps(view, ensure_ascii=False))
        return 0
    for key, value in view.items():
        if value is None:
            continue
        if isinstance(value, dict | list):
            value = json.dumps(value, ensure_ascii=False)
        print(f"{key}: {value}")
    return 0


def _framed_as_smpp(data: bytes) -> bool:
    """Whether the octets may be one SMPP PDU: at least a header, the first four
    octets their length (``smsc.pdu_layers.detect_layer`` then checks the rest)."""
    return len(data) >= 16 and int.from_bytes(data[:4], "big") == len(data)


def run_explain(args: argparse.Namespace) -> int:
    data = from_hex(args.hex)
    if args.layer == "tpdu" or (args.layer == "auto" and not _framed_as_smpp(data)):
        expl = explain(data, args.direction, sca=args.sca)
    else:
        # Only then the protocols: a TPDU's explanation stays as light as the codec.
        from smsc.pdu_layers import explain_layer

        _, expl = explain_layer(data, args.layer, args.direction, sca=args.sca)
    if expl.error is not None:
        print(render(type(expl)(expl.rows, expl.tpdu, None, expl.name)))
        if isinstance(expl.error, PDUError):
            raise expl.error
        raise CommandError(str(expl.error), 2)
    print(render(expl))
    return 0


def now_with_zone() -> datetime:
    """Local time with its zone, or UTC where the zone is not in quarter hours."""
    now = datetime.now().astimezone().replace(microsecond=0)
    if (now.utcoffset() or timedelta()) % timedelta(minutes=15):
        return now.astimezone(UTC)
    return now


def run_encode(args: argparse.Namespace) -> int:
    alphabet = None if args.alphabet == "auto" else Alphabet(args.alphabet)
    content: str | bytes = args.text
    if alphabet is Alphabet.DATA_8BIT:
        content = args.text.encode("utf-8")
    ref = args.ref if args.ref is not None else random.randrange(0x10000 if args.ref16 else 0x100)
    parts = split(
        content,
        alphabet=alphabet,
        ref=ref,
        ref_bits=16 if args.ref16 else 8,
        message_number=args.message_number,
        carrier=Carrier(args.carrier),
        iei=args.iei,
        marker=args.marker,
    )
    dcs = DataCodingScheme.general(parts.alphabet, args.message_class)
    tpdus: list[Tpdu]
    if args.deliver:
        if not args.sender:
            raise PDUError("--deliver needs --from (the TP-OA)")
        scts = _iso(args.scts, "--scts") if args.scts else now_with_zone()
        tpdus = [
            SmsDeliver(
                tp_oa=Address.parse(args.sender),
                tp_scts=scts,
                tp_dcs=dcs,
                tp_ud=ud,
                tp_sri=args.srr,
            )
            for ud in parts.parts
        ]
    else:
        vp = parse_vp(args.vp) if args.vp else None
        tpdus = [
            SmsSubmit(
                tp_da=Address.parse(args.to),
                tp_mr=(args.mr + i) % 256,
                tp_dcs=dcs,
                tp_vp=vp,
                tp_ud=ud,
                tp_srr=args.srr,
            )
            for i, ud in enumerate(parts.parts)
        ]
    sca = Address.parse(args.sca) if args.sca else None
    for tpdu in tpdus:
        print(to_hex(encode_sca(tpdu, sca) if args.sca else encode(tpdu)))
    return 0
