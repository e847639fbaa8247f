"""Published PDUs, each decoded to what its source says it holds.

The vectors and their sources (3GPP examples, AOSP, ModemManager,
python-messaging, python-gsmmodem, tutorials) are in data/published_vectors.json;
each entry names where the hex and the expected values were published.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pdu import Direction, PDUError, from_hex
from pdu.jsonview import decode_json

VECTORS = json.loads((Path(__file__).parent / "data" / "published_vectors.json").read_text())


def _subset(expected: Any, actual: Any, path: str) -> None:
    """Every value the source states must match; what it does not state is free."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: {actual!r}"
        for key, value in expected.items():
            _subset(value, actual.get(key), f"{path}.{key}")
    else:
        assert actual == expected, f"{path}: expected {expected!r}, got {actual!r}"


def test_there_are_enough_vectors() -> None:
    assert len(VECTORS) >= 25
    assert all(v["source"] for v in VECTORS)


@pytest.mark.parametrize(
    "vector", VECTORS, ids=[f"{i}-{v['source'][:40]}" for i, v in enumerate(VECTORS)]
)
def test_published_vector(vector: dict[str, Any]) -> None:
    data = from_hex(vector["hex"])
    direction = Direction(vector["direction"])
    expected = vector["expect"]
    if "error" in expected:
        with pytest.raises(PDUError, match=expected["error"]):
            decode_json(data, direction, sca=vector["sca"])
        return
    view = decode_json(data, direction, sca=vector["sca"], rp_error=vector.get("rp_error"))
    _subset(expected, view, "pdu")
