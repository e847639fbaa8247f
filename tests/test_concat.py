"""Splitting into the fewest parts, and reassembly in any order."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pdu import Alphabet, PDUError, UserData
from pdu.concat import Reassembler, reassemble, split
from pdu.message_number import MARKER, Carrier, parse_inline, read_number
from pdu.udh import IEI_MESSAGE_NUMBER, find_concat, find_message_number

from .strategies import any_text, gsm7_text


def _sizes(content: str | bytes, **kw: object) -> list[int]:
    return [len(p.body) for p in split(content, **kw).parts]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("n", "sizes"),
    [(160, [160]), (161, [153, 8]), (306, [153, 153]), (307, [153, 153, 1])],
)
def test_gsm7_153_per_part(n: int, sizes: list[int]) -> None:
    assert _sizes("a" * n) == sizes


@pytest.mark.parametrize(
    ("n", "sizes"),
    [(70, [70]), (71, [67, 4]), (134, [67, 67]), (135, [67, 67, 1])],
)
def test_ucs2_67_per_part(n: int, sizes: list[int]) -> None:
    plan = split("ж" * n)
    assert plan.alphabet is Alphabet.UCS2
    assert [len(p.body) for p in plan.parts] == sizes


def test_8bit_134_per_part() -> None:
    assert _sizes(b"\x01" * 140) == [140]
    assert _sizes(b"\x01" * 141) == [134, 7]


def test_16_bit_reference_costs_one_more_octet() -> None:
    assert _sizes("a" * 161, ref_bits=16) == [152, 9]


def test_an_escape_pair_is_never_split() -> None:
    plan = split("a" * 152 + "€" + "b" * 10)
    assert plan.parts[0].body == "a" * 152
    assert plan.parts[1].body == "€" + "b" * 10


def test_escape_characters_count_twice() -> None:
    assert _sizes("€" * 80) == [80]
    assert _sizes("€" * 81) == [76, 5]


def test_a_surrogate_pair_is_never_split() -> None:
    plan = split("a" * 66 + "\U0001f600" + "b" * 10)
    assert plan.parts[0].body == "a" * 66
    assert plan.parts[1].body == "\U0001f600" + "b" * 10


def test_message_number_in_every_part_udh() -> None:
    plan = split("a" * 400, message_number=7, ref=9)
    assert [len(p.body) for p in plan.parts] == [148, 148, 104]
    for seq, part in enumerate(plan.parts, 1):
        assert find_message_number(part.udh) == 7
        concat = find_concat(part.udh)
        assert concat is not None and (concat.ref, concat.total, concat.seq) == (9, 3, seq)


def test_message_number_alone_in_a_single_part() -> None:
    plan = split("hello", message_number=255, iei=0x9F)
    assert plan.parts[0].udh is not None
    assert [(ie.iei, ie.data) for ie in plan.parts[0].udh] == [(0x9F, b"\x00\xff")]


def test_inline_marker_forces_ucs2_and_ends_the_last_part() -> None:
    plan = split("a" * 66, message_number=42, carrier=Carrier.INLINE)
    assert plan.alphabet is Alphabet.UCS2
    assert [p.body for p in plan.parts] == ["a" * 66 + f"{MARKER}042"]


@pytest.mark.parametrize("n", [67, 130, 131, 200])
def test_inline_marker_is_never_split(n: int) -> None:
    plan = split("a" * n, message_number=1, carrier=Carrier.INLINE)
    bodies = [p.body for p in plan.parts]
    assert all(MARKER not in b for b in bodies[:-1])
    assert isinstance(bodies[-1], str) and bodies[-1].endswith(f"{MARKER}001")
    assert "".join(map(str, bodies)) == "a" * n + f"{MARKER}001"


def test_gsm7_forced_on_text_it_cannot_carry() -> None:
    with pytest.raises(PDUError, match="not in the GSM 7-bit alphabet"):
        split("жук", alphabet=Alphabet.GSM7)


def test_too_many_parts() -> None:
    with pytest.raises(PDUError, match="more than 255"):
        split("a" * 153 * 256)


def test_reassembly_reports_missing_parts_and_ignores_duplicates() -> None:
    parts = split("x" * 500, ref=3).parts
    whole = reassemble([parts[3], parts[0], parts[0], parts[1]])
    assert whole.missing == [3]
    assert not whole.complete
    assert reassemble(reversed(parts)).body == "x" * 500


def test_reassembler_separates_senders_and_references() -> None:
    r = Reassembler()
    a = split("A" * 200, ref=1).parts
    b = split("B" * 200, ref=1).parts
    c = split("C" * 200, ref=2).parts
    assert r.feed("+1", a[1]) is None
    assert r.feed("+2", b[0]) is None
    assert r.feed("+1", c[0]) is None
    assert r.feed("+1", a[1]) is None  # duplicate
    assert sorted(r.pending()) == [("+1", 1, [1]), ("+1", 2, [2]), ("+2", 1, [2])]
    done = r.feed("+1", a[0])
    assert done is not None and done.body == "A" * 200
    dropped = r.drop("+2", 1)
    assert dropped is not None and dropped.missing == [2]
    assert r.feed("+3", UserData("plain")) == reassemble([UserData("plain")])


def test_a_surrogate_pair_split_by_a_careless_sender_is_joined() -> None:
    from pdu.udh import concat_ie

    emoji = "\U0001f600"
    high, low = emoji.encode("utf-16-be")[:2], emoji.encode("utf-16-be")[2:]
    parts = [
        UserData("a" + high.decode("utf-16-be", "surrogatepass"), (concat_ie(1, 2, 1),)),
        UserData(low.decode("utf-16-be", "surrogatepass") + "b", (concat_ie(1, 2, 2),)),
    ]
    assert reassemble(parts).body == "a" + emoji + "b"


@given(
    gsm7_text | any_text | st.text(max_size=600),
    st.randoms(use_true_random=False),
    st.none() | st.integers(0, 255),
    st.sampled_from(Carrier),
)
def test_split_then_reassemble_in_any_order(
    text: str, rnd: object, number: int | None, carrier: Carrier
) -> None:
    # A text that itself ends in "□NNN" is indistinguishable from a numbered one.
    assume(parse_inline(text)[1] is None)
    plan = split(text, message_number=number, carrier=carrier)
    parts = list(plan.parts) + list(plan.parts[:2])
    rnd.shuffle(parts)  # type: ignore[attr-defined]
    whole = reassemble(parts)
    assert whole.complete
    assert isinstance(whole.body, str)
    numbered = read_number(whole.body, whole.parts[0].udh, IEI_MESSAGE_NUMBER)
    assert numbered.text == text
    assert numbered.number == (None if carrier is Carrier.NONE else number)
    if len(plan.parts) > 1:
        assert all(find_concat(p.udh) is not None for p in plan.parts)


@given(gsm7_text.map(lambda t: t * 3))
def test_fewest_parts_for_gsm7(text: str) -> None:
    from pdu import gsm7

    plan = split(text)
    septets = gsm7.septet_count(text)
    if septets <= 160:
        assert len(plan.parts) == 1
    else:
        # Greedy is optimal; an escape pair pushed to the next part wastes at most one septet.
        lower = -(-septets // 153)
        assert lower <= len(plan.parts) <= -(-septets // 152)
