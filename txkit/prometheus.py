"""Metrics in the Prometheus text exposition format 0.0.4, and the page that
serves them.

A component keeps its counters, gauges and histograms in a ``Registry``; a
``MetricsPage`` renders registries at each GET.  A counter or gauge may also
be *read* at render time from state the component keeps anyway (a queue's
length, a dataclass of counters), so nothing has to be kept twice.

The format (prometheus.io, "Exposition formats"): per metric a ``# HELP`` and
a ``# TYPE`` line, then one line per series, ``name{label="value"} number``;
label values escape ``\\``, ``"`` and newlines, help text ``\\`` and
newlines.  No timestamps, and no ``# EOF`` (that is OpenMetrics).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import ClassVar, TypeVar

from twisted.web.resource import Resource
from twisted.web.server import Request

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"

Labels = tuple[str, ...]
#: What a ``read`` function returns: the value of a metric without labels, or
#: the value of each series by its label values.
Reading = float | Mapping[Labels, float]
Reader = Callable[[], Reading]

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def number(value: float) -> str:
    """A sample value as the format writes it (Go's ParseFloat reads it back)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


class Metric:
    """One metric family: its name, help, type and label names."""

    kind: ClassVar[str]

    def __init__(self, name: str, help_: str, labels: Sequence[str] = ()) -> None:
        if not _NAME.fullmatch(name):
            raise ValueError(f"metric name {name!r} is not [a-zA-Z_:][a-zA-Z0-9_:]*")
        for label in labels:
            if not _LABEL.fullmatch(label) or label.startswith("__"):
                raise ValueError(f"{name}: label name {label!r} is not valid")
        self.name = name
        self.help = help_
        self.labels = tuple(labels)

    def _key(self, values: Sequence[str]) -> Labels:
        if len(values) != len(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, got {tuple(values)}")
        return tuple(map(str, values))  # no generator a sample: counted per PDU

    def _series(self, suffix: str, values: Labels, value: float, extra: str = "") -> str:
        pairs = [f'{k}="{escape_label(v)}"' for k, v in zip(self.labels, values, strict=True)]
        if extra:
            pairs.append(extra)
        labels = "{" + ",".join(pairs) + "}" if pairs else ""
        return f"{self.name}{suffix}{labels} {number(value)}"

    def samples(self) -> Iterator[str]:
        raise NotImplementedError

    def render(self) -> Iterator[str]:
        yield f"# HELP {self.name} {escape_help(self.help)}"
        yield f"# TYPE {self.name} {self.kind}"
        yield from self.samples()


class _Valued(Metric):
    """A counter or gauge: a number per series, kept here or ``read``."""

    def __init__(
        self,
        name: str,
        help_: str,
        labels: Sequence[str] = (),
        *,
        read: Reader | None = None,
    ) -> None:
        super().__init__(name, help_, labels)
        self.read = read
        self.values: dict[Labels, float] = {} if labels else {(): 0.0}

    def _current(self) -> Mapping[Labels, float]:
        if self.read is None:
            return self.values
        reading = self.read()
        return reading if isinstance(reading, Mapping) else {(): reading}

    def samples(self) -> Iterator[str]:
        current = self._current()
        for values in sorted(current):
            yield self._series("", values, current[values])


class Counter(_Valued):
    kind = "counter"

    def inc(self, *labels: str, by: float = 1) -> None:
        if by < 0:
            raise ValueError(f"{self.name}: a counter only goes up")
        key = self._key(labels)
        self.values[key] = self.values.get(key, 0.0) + by


class Gauge(_Valued):
    kind = "gauge"

    def set(self, value: float, *labels: str) -> None:
        self.values[self._key(labels)] = value

    def inc(self, *labels: str, by: float = 1) -> None:
        key = self._key(labels)
        self.values[key] = self.values.get(key, 0.0) + by

    def dec(self, *labels: str, by: float = 1) -> None:
        self.inc(*labels, by=-by)


class Histogram(Metric):
    """Observations counted in cumulative buckets (``le``), with their sum and count."""

    kind = "histogram"

    def __init__(
        self, name: str, help_: str, labels: Sequence[str] = (), *, buckets: Sequence[float]
    ) -> None:
        super().__init__(name, help_, labels)
        if "le" in self.labels:
            raise ValueError(f"{name}: 'le' is the histogram's own label")
        self.buckets = sorted(float(b) for b in buckets if not math.isinf(b))
        #: Per series: the observations in each bucket (not cumulative), the
        #: +Inf bucket last, and their sum.
        self.counts: dict[Labels, list[int]] = {}
        self.sums: dict[Labels, float] = {}
        if not labels:
            self.counts[()] = [0] * (len(self.buckets) + 1)
            self.sums[()] = 0.0

    def observe(self, value: float, *labels: str) -> None:
        key = self._key(labels)
        counts = self.counts.setdefault(key, [0] * (len(self.buckets) + 1))
        i = next((i for i, bound in enumerate(self.buckets) if value <= bound), -1)
        counts[i] += 1
        self.sums[key] = self.sums.get(key, 0.0) + value

    def samples(self) -> Iterator[str]:
        for values in sorted(self.counts):
            total = 0
            bounds = [*(number(b) for b in self.buckets), "+Inf"]
            for bound, count in zip(bounds, self.counts[values], strict=True):
                total += count
                yield self._series("_bucket", values, total, f'le="{bound}"')
            yield self._series("_sum", values, self.sums[values])
            yield self._series("_count", values, total)


M = TypeVar("M", bound=Metric)


class Registry:
    """A component's metrics, rendered in the order they were made, then
    those of the registries it includes (``smsemu up`` shows the IP
    server's on the SMSC's page so)."""

    def __init__(self) -> None:
        self.metrics: dict[str, Metric] = {}
        self.included: list[Registry] = []

    def add(self, metric: M) -> M:
        if metric.name in self.metrics:
            raise ValueError(f"metric {metric.name} is registered already")
        self.metrics[metric.name] = metric
        return metric

    def counter(
        self, name: str, help_: str, labels: Sequence[str] = (), *, read: Reader | None = None
    ) -> Counter:
        return self.add(Counter(name, help_, labels, read=read))

    def gauge(
        self, name: str, help_: str, labels: Sequence[str] = (), *, read: Reader | None = None
    ) -> Gauge:
        return self.add(Gauge(name, help_, labels, read=read))

    def histogram(
        self, name: str, help_: str, labels: Sequence[str] = (), *, buckets: Sequence[float]
    ) -> Histogram:
        return self.add(Histogram(name, help_, labels, buckets=buckets))

    def include(self, other: Registry) -> None:
        self.included.append(other)

    def render(self) -> Iterator[str]:
        for metric in self.metrics.values():
            yield from metric.render()
        for other in self.included:
            yield from other.render()


def exposition(*registries: Registry, labels: Mapping[str, str] | None = None) -> bytes:
    """The text of a scrape: every metric of ``registries``, each series with
    the constant ``labels`` too (a cluster's ``node``)."""
    lines = [line for registry in registries for line in registry.render()]
    if labels:
        pairs = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
        lines = [_labelled(line, pairs) for line in lines]
    return ("\n".join(lines) + "\n").encode()


def _labelled(line: str, pairs: str) -> str:
    if line.startswith("#"):
        return line
    series, value = line.rsplit(" ", 1)
    if series.endswith("}"):
        return f"{series[:-1]},{pairs}}} {value}"
    return f"{series}{{{pairs}}} {value}"


class MetricsPage(Resource):
    """``GET`` renders the registries (read at each request, on the reactor:
    nothing here waits on a database)."""

    isLeaf = True

    def __init__(self, *registries: Registry, labels: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.registries = registries
        self.labels = labels

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", CONTENT_TYPE)
        return exposition(*self.registries, labels=self.labels)


def metrics_root(*registries: Registry) -> Resource:
    """A site root with the page at ``/metrics``, for a server that serves nothing else."""
    root = Resource()
    root.putChild(b"metrics", MetricsPage(*registries))
    return root
