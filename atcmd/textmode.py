"""TS 27.005 text mode (AT+CMGF=1): messages as header parameters and text
instead of PDUs, both ways.

Building (§3.5.1, AT+CMGS / AT+CMGW): the SMS-SUBMIT takes TP-DA from the
command and its first octet, TP-VP, TP-PID and TP-DCS from AT+CSMP.  When
TP-DCS is GSM 7-bit and there is no user data header, the text is typed in the
AT+CSCS character set; otherwise it is the TP-UD octets in hex.

Showing (§3.1 <data>, §3.4.2-3.4.3): the same rule backwards, with the header
parameters of +CMGR, +CMGL, +CMT and +CDS without the AT+CSDH extras.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pdu import (
    Address,
    Alphabet,
    PDUError,
    SmsDeliver,
    SmsStatusReport,
    SmsSubmit,
    Tpdu,
    UserData,
    encode,
    gsm7,
)
from pdu.dcs import DataCodingScheme, dcs_of
from pdu.reader import Reader
from pdu.userdata import decode_user_data, encode_user_data
from pdu.validity import RelativeVP

from . import charset
from .results import CMS_INVALID_TEXT, CmeError, CmsError
from .state import Csmp

_UDHI = 0x40


def scts(when: datetime) -> str:
    """<scts>/<dt>: "yy/MM/dd,hh:mm:ss±zz", the zone in quarter hours."""
    offset = when.utcoffset() or timedelta(0)
    quarters = int(offset.total_seconds()) // 900
    sign = "-" if quarters < 0 else "+"
    return when.strftime("%y/%m/%d,%H:%M:%S") + f"{sign}{abs(quarters):02d}"


def _hex_body(dcs: DataCodingScheme, udhi: bool) -> bool:
    """Whether <data> is TP-UD in hex rather than text (§3.1 <data>)."""
    return udhi or not dcs.counts_septets or dcs.alphabet is not Alphabet.GSM7


def data(dcs: DataCodingScheme, ud: UserData, cscs: str) -> str:
    """<data> of a DELIVER or SUBMIT: text in the TE set, or TP-UD in hex."""
    if _hex_body(dcs, ud.udh is not None):
        return encode_user_data(ud, dcs)[1:].hex().upper()
    assert isinstance(ud.body, str)
    return charset.encode(ud.body, cscs)


def quoted(text: str) -> str:
    return f'"{text}"'


def address(addr: Address, cscs: str) -> str:
    return quoted(charset.encode(str(addr), cscs))


def _report_params(r: SmsStatusReport, fo: int, cscs: str) -> str:
    """<fo>,<mr>,[<ra>],[<tora>],<scts>,<dt>,<st> (§3.4.3, +CDS of §3.4.1)."""
    return (
        f"{fo},{r.tp_mr},{address(r.tp_ra, cscs)},{r.tp_ra.type_of_address},"
        f"{quoted(scts(r.tp_scts))},{quoted(scts(r.tp_dt))},{r.tp_st}"
    )


def header(tpdu: Tpdu, fo: int, cscs: str, listing: bool = False) -> str | None:
    """The header parameters after <stat> (or after +CMT: / +CDS:), and None
    when text mode has no form for this TPDU type.  A SUBMIT has no <scts>:
    +CMGL still shows its empty place, +CMGR does not."""
    if isinstance(tpdu, SmsDeliver):
        return f"{address(tpdu.tp_oa, cscs)},,{quoted(scts(tpdu.tp_scts))}"
    if isinstance(tpdu, SmsSubmit):
        return f"{address(tpdu.tp_da, cscs)},," if listing else f"{address(tpdu.tp_da, cscs)},"
    if isinstance(tpdu, SmsStatusReport):
        return _report_params(tpdu, fo, cscs)
    return None


def body(tpdu: Tpdu, cscs: str) -> str | None:
    """The <data> line of a DELIVER or SUBMIT; None for a status report."""
    if isinstance(tpdu, SmsDeliver | SmsSubmit):
        return data(tpdu.tp_dcs, tpdu.tp_ud, cscs)
    return None


def destination(text: str, toda: int | None, cscs: str) -> Address:
    """<da> of AT+CMGS / AT+CMGW, with <toda> (145 international) if given."""
    number = charset.decode_number(text, cscs)
    digits = number[1:] if number.startswith("+") else number
    if not digits or len(digits) > 20 or any(c not in "0123456789*#" for c in digits):
        raise CmsError(CMS_INVALID_TEXT)
    if number.startswith("+") or toda == 145:
        return Address(digits)
    return Address.parse(digits)


def build_submit(csmp: Csmp, da: Address, typed: str, cscs: str) -> bytes:
    """The SMS-SUBMIT for what the TE typed after the prompt."""
    fo, dcs = csmp.fo, dcs_of(csmp.dcs)
    udhi = bool(fo & _UDHI)
    try:
        if _hex_body(dcs, udhi):
            if udhi and dcs.counts_septets:
                raise CmsError(CMS_INVALID_TEXT)  # packed septets cannot be typed
            octets = charset.from_hex("".join(typed.split()))
            ud = decode_user_data(Reader(bytes((len(octets),)) + octets, 0), dcs, udhi)
        else:
            text = charset.decode(typed, cscs)
            if not gsm7.is_gsm7(text):
                raise CmsError(CMS_INVALID_TEXT)
            ud = UserData(text)
        vpf = fo >> 3 & 0x03
        submit = SmsSubmit(
            tp_da=da,
            tp_pid=csmp.pid,
            tp_dcs=dcs,
            tp_vp=RelativeVP(csmp.vp) if vpf == 2 else None,
            tp_ud=ud,
            tp_rd=bool(fo & 0x04),
            tp_srr=bool(fo & 0x20),
            tp_rp=bool(fo & 0x80),
        )
        return encode(submit)
    except (PDUError, CmeError):
        raise CmsError(CMS_INVALID_TEXT) from None
