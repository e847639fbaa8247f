"""Hypothesis strategies for every TPDU type, alphabet and UDH combination."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

from pdu import (
    Address,
    DataCodingScheme,
    EnhancedVP,
    InformationElement,
    RelativeVP,
    SmsCommand,
    SmsDeliver,
    SmsDeliverReport,
    SmsStatusReport,
    SmsSubmit,
    SmsSubmitReport,
    UserData,
    gsm7,
)
from pdu.address import TON_ALPHANUMERIC
from pdu.udh import encode_udh
from pdu.userdata import MAX_OCTETS, MAX_SEPTETS, header_septets

GSM7_CHARS = [c for c in gsm7.DEFAULT_ALPHABET if c != "\x1b"] + list(gsm7.EXTENSION_TABLE.values())
gsm7_text = st.text(alphabet=GSM7_CHARS, max_size=170)
# Any Unicode scalar value, astral planes included (sent as surrogate pairs).
any_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=80)

digits = st.text(alphabet="0123456789*#abc", min_size=1, max_size=20)
numeric_address = st.builds(
    Address,
    digits,
    st.integers(0, 7).filter(lambda t: t != TON_ALPHANUMERIC),
    st.integers(0, 15),
)
alphanumeric_address = st.builds(
    Address,
    st.text(alphabet=GSM7_CHARS, min_size=1, max_size=11).filter(
        lambda s: gsm7.septet_count(s) <= 11
    ),
    st.just(TON_ALPHANUMERIC),
    st.integers(0, 15),
)
addresses = numeric_address | alphanumeric_address

timestamps = st.builds(
    lambda dt, q: dt.replace(tzinfo=timezone(timedelta(minutes=15 * q))),
    st.datetimes(min_value=datetime(1980, 1, 1), max_value=datetime(2079, 12, 31)).map(
        lambda d: d.replace(microsecond=0)
    ),
    st.integers(-79, 79),
)

# 0x24/0x25 would switch national language tables, so decoding would (rightly) differ.
elements = st.builds(
    InformationElement,
    st.integers(0, 255).filter(lambda i: i not in (0x24, 0x25)),
    st.binary(max_size=12),
)
udhs = st.none() | st.lists(elements, max_size=4).map(tuple)


@st.composite
def user_data(draw: st.DrawFn, dcs: DataCodingScheme) -> UserData:
    """User data that fits one TPDU in the alphabet ``dcs`` names."""
    udh = draw(udhs)
    head = len(encode_udh(udh)) if udh is not None else 0
    if dcs.counts_septets:
        room = MAX_SEPTETS - (header_septets(head) if udh is not None else 0)
        text = draw(gsm7_text)
        while gsm7.septet_count(text) > room:
            text = text[:-1]
        return UserData(text, udh)
    room = MAX_OCTETS - head
    if dcs.alphabet == "ucs2" and not dcs.compressed:
        text = draw(any_text)
        while len(text.encode("utf-16-be")) > room:
            text = text[:-1]
        return UserData(text, udh)
    return UserData(draw(st.binary(max_size=room)), udh)


dcs_any = st.integers(0, 255).map(DataCodingScheme)
octet = st.integers(0, 255)
validity = st.one_of(
    st.none(),
    st.builds(RelativeVP, octet),
    timestamps,
    st.binary(min_size=7, max_size=7).map(EnhancedVP),
)


@st.composite
def sms_deliver(draw: st.DrawFn) -> SmsDeliver:
    dcs = draw(dcs_any)
    return SmsDeliver(
        tp_oa=draw(addresses),
        tp_scts=draw(timestamps),
        tp_pid=draw(octet),
        tp_dcs=dcs,
        tp_ud=draw(user_data(dcs)),
        tp_mms=draw(st.booleans()),
        tp_lp=draw(st.booleans()),
        tp_sri=draw(st.booleans()),
        tp_rp=draw(st.booleans()),
    )


@st.composite
def sms_submit(draw: st.DrawFn) -> SmsSubmit:
    dcs = draw(dcs_any)
    return SmsSubmit(
        tp_da=draw(addresses),
        tp_mr=draw(octet),
        tp_pid=draw(octet),
        tp_dcs=dcs,
        tp_vp=draw(validity),
        tp_ud=draw(user_data(dcs)),
        tp_rd=draw(st.booleans()),
        tp_srr=draw(st.booleans()),
        tp_rp=draw(st.booleans()),
    )


@st.composite
def _optional_tail(
    draw: st.DrawFn,
) -> tuple[int | None, DataCodingScheme | None, UserData | None]:
    pid = draw(st.none() | octet)
    dcs = draw(st.none() | dcs_any)
    ud = draw(st.none() | user_data(dcs or DataCodingScheme(0)))
    return pid, dcs, ud


@st.composite
def sms_status_report(draw: st.DrawFn) -> SmsStatusReport:
    pid, dcs, ud = draw(_optional_tail())
    return SmsStatusReport(
        tp_mr=draw(octet),
        tp_ra=draw(addresses),
        tp_scts=draw(timestamps),
        tp_dt=draw(timestamps),
        tp_st=draw(octet),
        tp_mms=draw(st.booleans()),
        tp_lp=draw(st.booleans()),
        tp_srq=draw(st.booleans()),
        tp_pid=pid,
        tp_dcs=dcs,
        tp_ud=ud,
    )


@st.composite
def sms_submit_report(draw: st.DrawFn) -> SmsSubmitReport:
    pid, dcs, ud = draw(_optional_tail())
    return SmsSubmitReport(
        tp_scts=draw(timestamps),
        tp_fcs=draw(st.none() | st.integers(0x80, 0xFF)),
        tp_pid=pid,
        tp_dcs=dcs,
        tp_ud=ud,
    )


@st.composite
def sms_deliver_report(draw: st.DrawFn) -> SmsDeliverReport:
    pid, dcs, ud = draw(_optional_tail())
    return SmsDeliverReport(
        tp_fcs=draw(st.none() | st.integers(0x80, 0xFF)), tp_pid=pid, tp_dcs=dcs, tp_ud=ud
    )


sms_command = st.builds(
    SmsCommand,
    tp_mr=octet,
    tp_ct=octet,
    tp_mn=octet,
    tp_da=addresses,
    tp_pid=octet,
    tp_cd=st.binary(max_size=156),
    tp_srr=st.booleans(),
    tp_udhi=st.booleans(),
)

tpdus = st.one_of(
    sms_deliver(),
    sms_submit(),
    sms_status_report(),
    sms_submit_report(),
    sms_deliver_report(),
    sms_command,
)
