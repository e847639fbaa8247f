"""MILENAGE against the conformance test data of TS 35.208 §4.3 (test sets 1
to 6, the same as TS 35.207's), and the AKA exchange of TS 33.102 §6.3 built
on it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from radiolink import auth
from radiolink.milenage import milenage, network_challenge, opc

# K, RAND, SQN, AMF, OP, OPc, f1, f1*, f2, f3, f4, f5, f5*: the order of the spec's tables.
SETS = [
    (
        "465b5ce8b199b49faa5f0a2ee238a6bc",
        "23553cbe9637a89d218ae64dae47bf35",
        "ff9bb4d0b607",
        "b9b9",
        "cdc202d5123e20f62b6d676ac72cb318",
        "cd63cb71954a9f4e48a5994e37a02baf",
        "4a9ffac354dfafb3",
        "01cfaf9ec4e871e9",
        "a54211d5e3ba50bf",
        "b40ba9a3c58b2a05bbf0d987b21bf8cb",
        "f769bcd751044604127672711c6d3441",
        "aa689c648370",
        "451e8beca43b",
    ),
    (
        "0396eb317b6d1c36f19c1c84cd6ffd16",
        "c00d603103dcee52c4478119494202e8",
        "fd8eef40df7d",
        "af17",
        "ff53bade17df5d4e793073ce9d7579fa",
        "53c15671c60a4b731c55b4a441c0bde2",
        "5df5b31807e258b0",
        "a8c016e51ef4a343",
        "d3a628ed988620f0",
        "58c433ff7a7082acd424220f2b67c556",
        "21a8c1f929702adb3e738488b9f5c5da",
        "c47783995f72",
        "30f1197061c1",
    ),
    (
        "fec86ba6eb707ed08905757b1bb44b8f",
        "9f7c8d021accf4db213ccff0c7f71a6a",
        "9d0277595ffc",
        "725c",
        "dbc59adcb6f9a0ef735477b7fadf8374",
        "1006020f0a478bf6b699f15c062e42b3",
        "9cabc3e99baf7281",
        "95814ba2b3044324",
        "8011c48c0c214ed2",
        "5dbdbb2954e8f3cde665b046179a5098",
        "59a92d3b476a0443487055cf88b2307b",
        "33484dc2136b",
        "deacdd848cc6",
    ),
    (
        "9e5944aea94b81165c82fbf9f32db751",
        "ce83dbc54ac0274a157c17f80d017bd6",
        "0b604a81eca8",
        "9e09",
        "223014c5806694c007ca1eeef57f004f",
        "a64a507ae1a2a98bb88eb4210135dc87",
        "74a58220cba84c49",
        "ac2cc74a96871837",
        "f365cd683cd92e96",
        "e203edb3971574f5a94b0d61b816345d",
        "0c4524adeac041c4dd830d20854fc46b",
        "f0b9c08ad02e",
        "6085a86c6f63",
    ),
    (
        "4ab1deb05ca6ceb051fc98e77d026a84",
        "74b0cd6031a1c8339b2b6ce2b8c4a186",
        "e880a1b580b6",
        "9f07",
        "2d16c5cd1fdf6b22383584e3bef2a8d8",
        "dcf07cbd51855290b92a07a9891e523e",
        "49e785dd12626ef2",
        "9e85790336bb3fa2",
        "5860fc1bce351e7e",
        "7657766b373d1c2138f307e3de9242f9",
        "1c42e960d89b8fa99f2744e0708ccb53",
        "31e11a609118",
        "fe2555e54aa9",
    ),
    (
        "6c38a116ac280c454f59332ee35c8c4f",
        "ee6466bc96202c5a557abbeff8babf63",
        "414b98222181",
        "4464",
        "1ba00a1a7c6700ac8c3ff3e96ad08725",
        "3803ef5363b947c6aaa225e58fae3934",
        "078adfb488241a57",
        "80246b8d0186bcf1",
        "16c8233f05a0ac28",
        "3f8c7587fe8e4b233af676aede30ba3b",
        "a7466cc1e6b2a1337d49d3b66e95d7b4",
        "45b0f69ab06c",
        "1f53cd2b1113",
    ),
]


@pytest.mark.parametrize("row", SETS, ids=[f"set{n}" for n in range(1, 7)])
def test_conformance_sets(row: tuple[str, ...]) -> None:
    k, rand, sqn, amf, op, opc_, f1, f1s, f2, f3, f4, f5, f5s = map(bytes.fromhex, row)
    assert opc(k, op) == opc_
    v = milenage(k, opc_, rand, sqn, amf)
    assert (v.mac_a, v.mac_s, v.res, v.ck, v.ik, v.ak, v.ak_star) == (f1, f1s, f2, f3, f4, f5, f5s)


def test_wrong_sizes_are_refused_with_the_name() -> None:
    with pytest.raises(ValueError, match="RAND must be 16 octets, got 15"):
        milenage(b"k" * 16, b"o" * 16, b"r" * 15, b"s" * 6, b"aa")
    with pytest.raises(ValueError, match="K must be 16 octets"):
        opc(b"short", b"o" * 16)


KEYS = auth.Keys(k=bytes.fromhex(SETS[0][0]), opc=bytes.fromhex(SETS[0][5]))
RAND = bytes(range(16))


def test_a_fresh_challenge_is_answered_with_xres() -> None:
    ch = auth.challenge(KEYS, RAND, sqn=33)
    a = auth.answer(KEYS, ch.rand, ch.autn, sqn_ms=32)
    assert a.failure is None and a.sqn == 33
    assert a.res is not None and auth.res_matches(ch, a.res)


def test_a_network_without_the_key_gets_mac_failure() -> None:
    stranger = auth.Keys(k=b"\x01" * 16, opc=KEYS.opc)
    ch = auth.challenge(stranger, RAND, sqn=33)
    a = auth.answer(KEYS, ch.rand, ch.autn, sqn_ms=0)
    assert a.failure is auth.Failure.MAC_FAILURE and a.res is None


def test_a_replayed_challenge_is_a_synch_failure_and_resynchronises() -> None:
    ch = auth.challenge(KEYS, RAND, sqn=5)
    a = auth.answer(KEYS, ch.rand, ch.autn, sqn_ms=90)  # the SIM has seen 90 already
    assert a.failure is auth.Failure.SYNCH_FAILURE and a.auts is not None
    assert auth.resynchronise(KEYS, RAND, a.auts) == 90
    again = auth.challenge(KEYS, RAND, sqn=91)
    assert auth.answer(KEYS, again.rand, again.autn, sqn_ms=90).sqn == 91


def test_a_forged_auts_is_not_believed() -> None:
    a = auth.answer(KEYS, RAND, auth.challenge(KEYS, RAND, sqn=1).autn, sqn_ms=7)
    assert a.auts is not None
    forged = a.auts[:6] + bytes(8)
    assert auth.resynchronise(KEYS, RAND, forged) is None
    assert auth.resynchronise(KEYS, RAND, a.auts[:10]) is None


@given(
    k=st.binary(min_size=16, max_size=16),
    opc_=st.binary(min_size=16, max_size=16),
    rand=st.binary(min_size=16, max_size=16),
    sqn=st.integers(1, auth.SQN_MAX),
    other=st.binary(min_size=16, max_size=16),
)
def test_only_the_right_key_answers(
    k: bytes, opc_: bytes, rand: bytes, sqn: int, other: bytes
) -> None:
    keys = auth.Keys(k=k, opc=opc_)
    ch = auth.challenge(keys, rand, sqn)
    good = auth.answer(keys, rand, ch.autn, sqn - 1)
    assert good.res is not None and auth.res_matches(ch, good.res)
    if other != k:
        wrong = auth.answer(auth.Keys(k=other, opc=opc_), rand, ch.autn, 0)
        assert wrong.failure is auth.Failure.MAC_FAILURE


def test_the_worked_example_of_the_docs_is_what_the_code_sends() -> None:
    """docs/radio-link.md shows a rig the octets of one attach; they must be
    the ones smsemu computes (test set 1's K, OPc and RAND, SQN 1)."""
    from pathlib import Path

    from radiolink import frames as lk

    doc = " ".join((Path(__file__).parent.parent / "docs" / "radio-link.md").read_text().split())

    def spaced(octets: bytes) -> str:
        return " ".join(f"{o:02X}" for o in octets)

    set1 = auth.Keys(bytes.fromhex(SETS[0][0]), bytes.fromhex(SETS[0][5]))
    rand = bytes.fromhex(SETS[0][1])
    ch = auth.challenge(set1, rand, sqn=1)
    answer = auth.answer(set1, rand, ch.autn, sqn_ms=0)
    assert answer.res is not None
    request = lk.encode_frame(lk.AuthRequest(rand, ch.autn))
    assert spaced(request[:3]) in doc and spaced(rand) in doc
    assert spaced(ch.autn[:6]) + " " in doc and spaced(ch.autn[8:]) + " " in doc
    assert spaced(lk.encode_frame(lk.AuthResponse(answer.res))) in doc
    refused = auth.answer(set1, rand, ch.autn, sqn_ms=5)
    assert refused.auts is not None
    failure = lk.encode_frame(lk.AuthFailure(auth.Failure.SYNCH_FAILURE, refused.auts))
    assert spaced(failure[:4]) in doc and spaced(refused.auts[6:]) in doc
    attach = lk.encode_frame(lk.Attach("001010000000001", "+15550001001"))
    assert spaced(attach[:4]) in doc and spaced(attach[4:20]) in doc and spaced(attach[20:]) in doc


@given(
    st.binary(min_size=16, max_size=16),
    st.binary(min_size=16, max_size=16),
    st.binary(min_size=16, max_size=16),
    st.binary(min_size=6, max_size=6),
    st.binary(min_size=2, max_size=2),
)
def test_the_network_challenge_is_what_the_seven_functions_give(
    k: bytes, opc_: bytes, rand: bytes, sqn: bytes, amf: bytes
) -> None:
    """The network's shortcut (f1, f2, f5 only) against the full MILENAGE,
    itself checked against the conformance sets above."""
    full = milenage(k, opc_, rand, sqn, amf)
    assert network_challenge(k, opc_, rand, sqn, amf) == (full.mac_a, full.res, full.ak)
