"""Between SMPP's fields and the TPDUs of TS 23.040, both ways, without I/O.

An ESME's submit_sm becomes the SMS-DELIVERs a handset receives: data_coding
picks the alphabet (0 is "the SMSC default alphabet", which this SMSC takes
as GSM 03.38 unpacked unless configured as Latin-1 or ASCII), esm_class UDHI
says the short_message starts with a User Data Header (kept as sent), the
sar_* TLVs become a 16-bit concatenation element, and a text longer than one
SMS (message_payload) is split into the fewest parts.  A handset's MO
SMS-SUBMIT becomes the fields of the deliver_sm its ESME gets, part for part,
as real SMSCs forward them (UDH in the short_message, esm_class UDHI set).
"""

from __future__ import annotations

import codecs
import functools
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pdu import Address, Alphabet, DataCodingScheme, PDUError, SmsDeliver, SmsSubmit, UserData, gsm7
from pdu import encode as encode_tpdu
from pdu.address import TON_ALPHANUMERIC
from pdu.concat import split
from pdu.reader import Reader
from pdu.udh import InformationElement, concat_ie, decode_udh, encode_udh, ports_ie

#: esm_class bits (SMPP 3.4 §5.2.12).
UDHI = 0x40
REPLY_PATH = 0x80
#: The most octets a short_message carries; longer goes in message_payload.
MAX_SHORT_MESSAGE = 254
#: The user data octets of one SMS.
MAX_UD = 140


class DefaultAlphabet(StrEnum):
    """What data_coding 0 means here (SMPP leaves it to the SMSC)."""

    GSM7 = "gsm7"  # GSM 03.38 default alphabet, one septet per octet
    LATIN1 = "latin1"
    ASCII = "ascii"


class ConversionError(ValueError):
    """A message that cannot be carried: the reason says why."""


def text_of(data_coding: int, octets: bytes, default: DefaultAlphabet) -> str | bytes:
    """The text (or 8-bit data) of a short_message in ``data_coding``."""
    try:
        if data_coding == 0:
            if default is DefaultAlphabet.GSM7:
                return _septets(octets)
            return octets.decode(default.value)
        if data_coding == 1:
            return octets.decode("ascii")
        if data_coding == 3:
            return octets.decode("latin-1")
        if data_coding == 8:
            return octets.decode("utf-16-be", errors="surrogatepass")
        if data_coding in (2, 4):
            return octets
        if data_coding & 0xF0 == 0xF0:  # the DCS F0 group: bit 2 says 8-bit data
            return octets if data_coding & 0x04 else _septets(octets)
        if 0x10 <= data_coding <= 0x1F:
            # TS 23.038's general group with a message class (Kannel sends these
            # for mclass): bits 3-2 the alphabet, as in a TP-DCS.
            alphabet = DataCodingScheme(data_coding).alphabet
            if alphabet is Alphabet.UCS2:
                return octets.decode("utf-16-be", errors="surrogatepass")
            return octets if alphabet is Alphabet.DATA_8BIT else _septets(octets)
    except UnicodeDecodeError as exc:
        reason = f"short_message is not valid in data_coding {data_coding}: {exc}"
        raise ConversionError(reason) from None
    raise ConversionError(f"data_coding {data_coding:#04x} is not supported by this SMSC")


def _septets(octets: bytes) -> str:
    """GSM 03.38 text, one septet per octet."""
    if not octets.isascii():  # some octet above 0x7F (one C pass, not a generator)
        raise ConversionError("GSM 03.38 unpacked takes septets 0-127 only")
    return gsm7.decode(octets)


def _alphabet(data_coding: int, content: str | bytes) -> Alphabet:
    if isinstance(content, bytes):
        return Alphabet.DATA_8BIT
    if data_coding == 8 or (
        0x10 <= data_coding <= 0x1F and DataCodingScheme(data_coding).alphabet is Alphabet.UCS2
    ):
        return Alphabet.UCS2
    return Alphabet.GSM7 if gsm7.is_gsm7(content) else Alphabet.UCS2


def _fits_one(content: str | bytes, alphabet: Alphabet) -> bool:
    """Whether ``content`` fits one SMS without a header."""
    if isinstance(content, bytes):
        return len(content) <= MAX_UD
    if alphabet is Alphabet.GSM7:
        return gsm7.septet_count(content) <= MAX_UD * 8 // 7
    return len(content.encode("utf-16-be", "surrogatepass")) <= MAX_UD


def _message_class(data_coding: int) -> int | None:
    """The message class of data_coding 0x10-0x1F and 0xF0-0xFF (flash SMS is class 0)."""
    return data_coding & 0x03 if data_coding & 0xF0 in (0xF0, 0x10) else None


@dataclass(frozen=True, slots=True)
class Sar:
    """The sar_* TLVs: the ESME segmented the message itself."""

    ref: int
    total: int
    seq: int


def delivers(
    *,
    source: Address,
    data_coding: int,
    esm_class: int,
    protocol_id: int,
    payload: bytes,
    tp_scts: datetime,
    sar: Sar | None = None,
    ports: tuple[int, int] | None = None,
    ref: int = 0,
    default: DefaultAlphabet = DefaultAlphabet.GSM7,
) -> list[bytes]:
    """The SMS-DELIVERs of one submit_sm or data_sm (``payload``: its
    short_message or message_payload; ``ports``: the destination_port and
    source_port TLVs, as a 16-bit port element); ConversionError if it
    cannot be.  esm_class bit 7 (reply path) sets TP-RP."""
    udh: tuple[InformationElement, ...] = ()
    body = payload
    try:
        if esm_class & UDHI:
            if not payload:
                raise ConversionError("esm_class UDHI set, but there is no user data header")
            udh = decode_udh(Reader(payload), len(payload))
            body = payload[1 + payload[0] :]
        content = text_of(data_coding, body, default)
        alphabet = _alphabet(data_coding, content)
        dcs = DataCodingScheme.general(alphabet, _message_class(data_coding))
        if ports is not None:
            udh = (*udh, ports_ie(*ports, bits=16))
        if sar is not None:
            udh = (*udh, concat_ie(sar.ref & 0xFFFF, sar.total, sar.seq, 16))
        if udh and (esm_class & UDHI or sar is not None):
            # The ESME laid the message out itself: one SMS, as it is.
            parts = [UserData(content, udh)]
        elif not udh and _fits_one(content, alphabet):
            # The common case, without the general splitter's work per character.
            if alphabet is Alphabet.GSM7 and isinstance(content, str):
                rp = bool(esm_class & REPLY_PATH)
                head = _deliver_head(source, tp_scts, protocol_id, dcs, rp)
                septets = gsm7.encode(content)
                return [head + bytes((len(septets),)) + gsm7.pack(septets)]
            parts = [UserData(content)]
        else:
            plan = split(content, alphabet=alphabet, ref=ref & 0xFF).parts
            # A port element rides in every part (TS 23.040 §9.2.3.24.4).
            parts = [UserData(ud.body, (*udh, *(ud.udh or ())) or None) for ud in plan]
        out = [
            encode_tpdu(
                SmsDeliver(
                    tp_oa=source,
                    tp_scts=tp_scts,
                    tp_pid=protocol_id,
                    tp_dcs=dcs,
                    tp_ud=ud,
                    tp_rp=bool(esm_class & REPLY_PATH),
                )
            )
            for ud in parts
        ]
    except PDUError as exc:
        raise ConversionError(str(exc)) from None
    return out


_HEADS: dict[tuple[Address, datetime, object, int, DataCodingScheme, bool], bytes] = {}


def _deliver_head(
    source: Address, tp_scts: datetime, pid: int, dcs: DataCodingScheme, rp: bool
) -> bytes:
    """An SMS-DELIVER's octets up to its TP-UDL, as the encoder makes them:
    the same for every single-part text of a second from one source, so
    encoded once (the last few kept)."""
    # The zone too: equal instants in two zones are equal datetimes, not equal TP-SCTS.
    key = (source, tp_scts, tp_scts.utcoffset(), pid, dcs, rp)
    head = _HEADS.get(key)
    if head is None:
        empty = SmsDeliver(
            tp_oa=source, tp_scts=tp_scts, tp_pid=pid, tp_dcs=dcs, tp_ud=UserData(""), tp_rp=rp
        )
        head = encode_tpdu(empty)[:-1]  # without its TP-UDL of 0
        if len(_HEADS) >= 64:
            _HEADS.clear()
        _HEADS[key] = head
    return head


@dataclass(frozen=True, slots=True)
class MoFields:
    """What a deliver_sm carries of a handset's SMS-SUBMIT."""

    data_coding: int
    esm_class: int
    protocol_id: int
    message: bytes  # short_message, or message_payload when longer than 254 octets
    text: str  # as people read it, for logs and receipts


def mo_fields(submit: SmsSubmit, default: DefaultAlphabet = DefaultAlphabet.GSM7) -> MoFields:
    """One MO part as a deliver_sm's fields (its UDH, if any, kept in front)."""
    ud = submit.tp_ud
    body = ud.body
    if isinstance(body, bytes):
        data_coding, octets, text = 4, body, body.hex(" ")
    elif submit.tp_dcs.alphabet is Alphabet.UCS2:
        data_coding, octets, text = 8, body.encode("utf-16-be", "surrogatepass"), body
    else:
        data_coding, octets, text = 0, encode_text(body, 0, default), body
    header = encode_udh(ud.udh) if ud.udh else b""
    esm_class = UDHI if ud.udh else 0
    return MoFields(data_coding, esm_class, submit.tp_pid, header + octets, text)


def encode_text(text: str, data_coding: int, default: DefaultAlphabet) -> bytes:
    """``text`` as a short_message in data_coding 0 (read as ``default``), 1
    (IA5/ASCII) or 3 (Latin-1); a character the alphabet lacks becomes "?",
    as ``text_of`` would read it back."""
    if data_coding == 0 and default is DefaultAlphabet.GSM7:
        return gsm7.encode("".join(c if gsm7.is_gsm7(c) else "?" for c in text))
    charset = {0: default.value, 1: "ascii", 3: "latin-1"}[data_coding]
    return codecs.encode(text, charset, "replace")


def plain_text(data_coding: int, message: bytes, esm_class: int, default: DefaultAlphabet) -> str:
    """What a receipt's ``text:`` shows of a message: its text, UDH left out."""
    body = message[1 + message[0] :] if esm_class & UDHI and message else message
    try:
        content = text_of(data_coding, body, default)
    except ConversionError:
        return ""
    return content.hex() if isinstance(content, bytes) else content


def subscriber_number(addr: str, ton: int) -> str:
    """An SMPP address as the core keys subscribers: ``+digits`` for an
    international number (and for bare digits, which ESMEs often send)."""
    digits = addr.lstrip("+")
    if digits.isdigit() and (ton in (0, 1) or addr.startswith("+")):
        return "+" + digits
    return addr


@functools.lru_cache(maxsize=1024)
def source_address(addr: str, ton: int, npi: int) -> Address:
    """An ESME's source_addr as the TP-OA its SMS-DELIVERs carry (one
    immutable ``Address`` per source, shared by its queued messages)."""
    if ton == TON_ALPHANUMERIC:
        return Address(addr[:11], TON_ALPHANUMERIC, 0)
    if ton == 1 or addr.startswith("+"):
        return Address(addr.lstrip("+"), 1, npi or 1)
    return Address(addr, ton, npi)
