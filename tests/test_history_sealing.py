"""The device's side of the history query without I/O (handset.history):
sealed answers open only for their query, their author and the asker; junk
from the server is reported, never trusted nor raised; merging de-duplicates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from handset.history import MAX_PLAIN, Found, merge, open_answers, seal_answer
from handset.models import Direction
from handset.store import HistoryItem
from ipwire import wire
from ipwire.sealed import DeviceKey

ASKER = DeviceKey.generate()
QUERY = "ab" * 16
T0 = datetime(2026, 12, 1, tzinfo=UTC)

items = st.builds(
    HistoryItem,
    st.from_regex(r"[0-9a-f]{32}", fullmatch=True),
    st.from_regex(r"\+[0-9]{5,15}", fullmatch=True),
    st.sampled_from(list(Direction)),
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=300),
    st.integers(0, 10**9).map(lambda s: T0 - timedelta(seconds=s)),
)


def answer(
    found: list[HistoryItem], device: str = "phone", query: str = QUERY
) -> wire.SealedAnswer:
    count, blob = seal_answer(found, ASKER.public, query, device)
    return wire.SealedAnswer(device, count, wire.b64(blob))


@given(st.lists(items, max_size=20))
@settings(max_examples=50, deadline=None)
def test_what_one_device_seals_the_asker_opens(found: list[HistoryItem]) -> None:
    opened, bad = open_answers([answer(found)], ASKER, QUERY)
    assert bad == [] and [f.item for f in opened] == found
    assert all(f.sources == ("phone",) for f in opened)


def test_an_answer_opens_only_for_its_query_its_author_and_the_asker() -> None:
    found = [HistoryItem("1" * 32, "+15551234567", Direction.IN, "hello", T0)]
    good = answer(found)
    relabelled = wire.SealedAnswer("tablet", good.count, good.sealed)
    assert open_answers([relabelled], ASKER, QUERY) == ([], ["tablet"])
    assert open_answers([good], ASKER, "cd" * 16) == ([], ["phone"])
    assert open_answers([good], DeviceKey.generate(), QUERY) == ([], ["phone"])


@given(
    st.lists(
        st.builds(
            wire.SealedAnswer,
            st.from_regex(r"[a-z]{1,8}", fullmatch=True),
            st.integers(0, 500),
            st.binary(min_size=1, max_size=200).map(wire.b64),
        ),
        max_size=4,
    )
)
def test_junk_answers_are_reported_never_raised(answers: list[wire.SealedAnswer]) -> None:
    opened, bad = open_answers(answers, ASKER, QUERY)
    assert opened == [] and bad == [a.device for a in answers]


def test_sealed_json_that_is_not_history_is_refused() -> None:
    from handset.history import answer_context
    from ipwire.sealed import seal

    for plain in (b"{}", b"[1, 2]", b'[{"uid": "x"}]', b"not json", b'["\\ud800"]', b"[" * 100_000):
        blob = seal(plain, ASKER.public, answer_context(QUERY, "phone"))
        got = open_answers([wire.SealedAnswer("phone", 1, wire.b64(blob))], ASKER, QUERY)
        assert got == ([], ["phone"]), plain


def test_an_answer_too_large_for_a_frame_keeps_the_newest_that_fit() -> None:
    big = [
        HistoryItem(f"{n:032x}", "+15551234567", Direction.OUT, "€" * 2000, T0 - timedelta(n))
        for n in range(60)
    ]
    sealed = answer(big)
    assert 0 < sealed.count < len(big)
    assert len(sealed.sealed) <= wire.MAX_SEALED
    opened, _ = open_answers([sealed], ASKER, QUERY)
    assert [f.item for f in opened] == big[: sealed.count]
    assert MAX_PLAIN > 0


def test_merge_keeps_one_per_uid_with_every_source_newest_first() -> None:
    a = HistoryItem("a" * 32, "+1555", Direction.IN, "old", T0 - timedelta(days=1))
    b = HistoryItem("b" * 32, "+1555", Direction.IN, "new", T0)
    merged = merge(
        [Found(a, ("phone",)), Found(b, ("phone",)), Found(a, ("tablet",)), Found(a, ("phone",))],
        limit=10,
    )
    assert merged == [Found(b, ("phone",)), Found(a, ("phone", "tablet"))]
    assert merge([Found(a, ("x",)), Found(b, ("x",))], limit=1) == [Found(b, ("x",))]
