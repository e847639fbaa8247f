"""Reading TOML tables and command-line text into typed values, with errors
that name the file, the key and what was expected.

A ``Table`` hands out its keys one by one (``take``) and, at ``done``, refuses
the keys nobody took: a typo is an error, not a silently ignored setting.  A
``Kind`` is one type of value (an endpoint, a number of hours, a choice...):
it checks a TOML value, and turns command-line text into one first, so that
the file and the options share one set of rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from storage import StorageError, check_url
from txkit import endpoint_spec
from txkit.endpoints import server_endpoint

from ..errors import CommandError

T = TypeVar("T")
D = TypeVar("D")
E = TypeVar("E", bound=StrEnum)


class ConfigError(CommandError, ValueError):
    """A wrong key, table or value: ``file: key: what was expected``, one line.

    ``source`` is the file, or None for the command line (where ``key`` is the
    option, ``--validity``).  The exit status is 1 for the file, 2 for the
    command line, as argparse's own errors."""

    def __init__(self, source: str | None, key: str, message: str) -> None:
        super().__init__(
            f"{source}: {key}: {message}" if source else f"{key}: {message}",
            1 if source else 2,
        )
        self.source = source
        self.key = key


class Wrong(ValueError):
    """What a ``Kind`` says of a value it refuses (the caller adds where)."""


class Said(Wrong):
    """A ``Wrong`` that says all, the value and what was expected: the
    ``Kind`` adds nothing to it."""


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class Kind(Generic[T]):
    """One type of setting: ``check`` a TOML value (raise ``Wrong``), or
    ``text`` from the command line, read first by ``read``."""

    expected: str
    check: Callable[[object], T]
    read: Callable[[str], object] = str

    def value(self, value: object) -> T:
        try:
            return self.check(value)
        except Said:
            raise
        except Wrong as exc:
            raise Wrong(f"expected {self.expected}, got {_shown(value)}{exc}") from None

    def text(self, text: str) -> T:
        return self.value(self.read(text))


def _number_text(text: str) -> object:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def number(
    minimum: float = 0.0,
    *,
    above: bool = False,
    maximum: float | None = None,
    what: str = "a number",
) -> Kind[float]:
    """An int or a float: ``minimum`` (excluded when ``above``) to ``maximum``."""
    bound = f"> {minimum:g}" if above else f">= {minimum:g}"
    expected = f"{what} {bound}" + (f" and <= {maximum:g}" if maximum is not None else "")

    def check(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Wrong("")
        if value < minimum or (above and value == minimum):
            raise Wrong("")
        if maximum is not None and value > maximum:
            raise Wrong("")
        return float(value)

    return Kind(expected, check, _number_text)


def _integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Wrong("")
    return value


def whole(minimum: int = 0, maximum: int | None = None) -> Kind[int]:
    """An integer from ``minimum`` to ``maximum``."""
    upto = f" to {maximum}" if maximum is not None else " or more"
    expected = f"a whole number {minimum}{upto}"

    def check(value: object) -> int:
        value = _integer(value)
        if value < minimum or (maximum is not None and value > maximum):
            raise Wrong("")
        return value

    return Kind(expected, check, _number_text)


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise Wrong("")
    return value


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise Wrong("")
    return value


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Wrong("")
    return tuple(value)


STRING: Kind[str] = Kind("a string", _string)
INTEGER: Kind[int] = Kind("a whole number", _integer, _number_text)
BOOLEAN: Kind[bool] = Kind("true or false", _boolean)
STRINGS: Kind[tuple[str, ...]] = Kind("a list of strings", _strings)
#: A timeout or a deadline: more than zero.
SECONDS = number(0, above=True, what="a number of seconds")


def choice(enum: type[E]) -> Kind[E]:
    """One of the values of a string enumeration."""
    names = ", ".join(repr(m.value) for m in enum)

    def check(value: object) -> E:
        try:
            return enum(_string(value))
        except ValueError:
            raise Wrong("") from None

    return Kind(f"one of {names}", check)


def one_of(*values: str) -> Kind[str]:
    """One of these strings."""

    def check(value: object) -> str:
        if value not in values:
            raise Wrong("")
        return str(value)

    return Kind("one of " + ", ".join(repr(v) for v in values), check)


def _endpoint(value: object) -> str:
    """The endpoint string of ``HOST:PORT``, ``PORT`` or a Twisted endpoint
    string, checked as far as it can be without listening."""
    text = _string(value)
    try:
        spec = endpoint_spec(text)
        endpoint = server_endpoint(object(), spec)
    except (ValueError, TypeError) as exc:
        raise Wrong(": " + str(exc).removeprefix(f"{text!r}: ")) from None
    except OSError as exc:  # an ssl: endpoint's certificate or key file
        raise Wrong(f": cannot read {exc.filename} ({exc.strerror})") from None
    except Exception as exc:  # pyOpenSSL's, for a file that is not PEM
        if type(exc).__module__.startswith("OpenSSL"):
            raise Wrong(": a certificate or key that is not PEM") from None
        raise
    port = getattr(endpoint, "_port", None)
    if isinstance(port, int) and not 0 <= port <= 65535:
        raise Wrong(f": port {port} is out of range (0-65535)")
    return spec


def _address(value: object) -> tuple[str, int]:
    """Where a client connects: ``HOST:PORT`` (the host defaults to 127.0.0.1)."""
    host, _, port = _string(value).rpartition(":")
    if not port.isdigit() or not 0 < int(port) <= 65535:
        raise Wrong("")
    return host or "127.0.0.1", int(port)


def _database_url(value: object) -> str:
    """A SQLAlchemy URL whose driver is installed (checked without connecting);
    what is wrong is said without the URL's password."""
    text = _string(value)
    try:
        check_url(text)
    except StorageError as exc:
        raise Said(str(exc)) from None
    return text


DATABASE_URL: Kind[str] = Kind("a database URL", _database_url)
ENDPOINT: Kind[str] = Kind(
    "HOST:PORT or an endpoint string like 'tcp:7101:interface=127.0.0.1'", _endpoint
)
ADDRESS: Kind[tuple[str, int]] = Kind("HOST:PORT (port 1-65535)", _address)


class Table:
    """One TOML table of ``source`` at dotted ``path``, read key by key.
    With ``hyphens``, ``data-dir`` is the key ``data_dir`` (errors keep the
    spelling of the file)."""

    def __init__(self, data: object, source: str, path: str, *, hyphens: bool = False) -> None:
        self.source = source
        self.path = path
        if not isinstance(data, Mapping):
            raise self.error(path, "expected a table")
        self.spelling = {k.replace("-", "_") if hyphens else k: k for k in data}
        self.data: Mapping[str, Any] = {n: data[k] for n, k in self.spelling.items()}
        self.taken: set[str] = set()

    def key(self, name: str) -> str:
        name = self.spelling.get(name, name)
        return f"{self.path}.{name}" if self.path else name

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(self.source, key, message)

    def take(self, name: str, kind: Kind[T], default: D) -> T | D:
        """The value of ``name`` as ``kind``, or ``default`` if absent."""
        self.taken.add(name)
        return self._value(name, kind) if name in self.data else default

    def need(self, name: str, kind: Kind[T]) -> T:
        """The value of ``name``, which must be there."""
        self.taken.add(name)
        if name not in self.data:
            raise self.error(self.key(name), f"missing: expected {kind.expected}")
        return self._value(name, kind)

    def _value(self, name: str, kind: Kind[T]) -> T:
        try:
            return kind.value(self.data[name])
        except Wrong as exc:
            raise self.error(self.key(name), str(exc)) from None

    def table(self, name: str, *, hyphens: bool = False) -> Table:
        """A sub-table (an empty one if absent)."""
        self.taken.add(name)
        return Table(self.data.get(name, {}), self.source, self.key(name), hyphens=hyphens)

    def tables(self, name: str) -> Iterator[Table]:
        """The tables of an array of tables, ``name[0]`` first."""
        self.taken.add(name)
        found = self.data.get(name, [])
        if not isinstance(found, list):
            raise self.error(self.key(name), f"expected an array of tables ([[{self.key(name)}]])")
        for i, data in enumerate(found):
            yield Table(data, self.source, f"{self.key(name)}[{i}]")

    def done(self) -> None:
        """Refuse the keys nobody took."""
        unknown = sorted(set(self.data) - self.taken)
        if unknown:
            value = self.data[unknown[0]]
            tables = isinstance(value, list) and all(isinstance(v, Mapping) for v in value)
            what = "table" if isinstance(value, Mapping) or tables else "key"
            known = ", ".join(sorted(self.taken)) or "none"
            raise self.error(self.key(unknown[0]), f"unknown {what} (known: {known})")
