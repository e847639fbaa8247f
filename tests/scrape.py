"""Reading a /metrics page as Prometheus would: over HTTP, through
prometheus_client's parser (an implementation independent of ours)."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

#: A sample's name and its labels (sorted pairs).
Key = tuple[str, tuple[tuple[str, str], ...]]
Samples = dict[Key, float]


def key(name: str, **labels: str) -> Key:
    return name, tuple(sorted(labels.items()))


def parse(text: str) -> tuple[Samples, dict[str, str]]:
    """The samples of ``text`` and the type of each family."""
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for s in family.samples:
            k = key(s.name, **s.labels)
            assert k not in samples, f"{k} twice"
            samples[k] = s.value
    return samples, types


def scrape(url: str) -> tuple[Samples, dict[str, str]]:
    """GET ``url`` (blocking: call it on a thread from reactor code)."""
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
        return parse(r.read().decode())


def value(samples: Samples, name: str, **labels: str) -> float:
    """The value of one sample; KeyError if there is none."""
    return samples[key(name, **labels)]
