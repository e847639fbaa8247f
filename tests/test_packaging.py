"""What ships beside the code: the license pyproject announces, the Docker
image and compose files (checked as text and through the real option parser:
no Docker engine is needed; ``scripts/docker-check`` builds the image where
one runs), and the documentation pointers that replaced the SPEC's."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from smsemu.cli import build_parser
from smsemu.config import Config, network

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = (ROOT / "compose.yaml").read_text()
COMPOSE_PG = (ROOT / "compose.postgres.yaml").read_text()
#: The options of ``smsemu up`` that open a listener.
LISTENERS = ("--link", "--ip-server", "--admin", "--control", "--smpp")


def test_the_license_is_the_mit_license_pyproject_announces() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert PYPROJECT["license"] == "MIT"
    assert PYPROJECT["license-files"] == ["LICENSE"]
    assert text.startswith("MIT License\n")
    authors = [a["name"] for a in PYPROJECT.get("authors", [])]
    holder = ", ".join(authors) or "the smsemu developers"
    assert re.search(rf"^Copyright \(c\) 20\d\d {re.escape(holder)}$", text, re.M)
    for clause in (
        "Permission is hereby granted, free of charge, to any person obtaining a copy",
        "The above copyright notice and this permission notice shall be included in all",
        'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR',
    ):
        assert clause in text


def exposed() -> set[int]:
    (line,) = re.findall(r"^EXPOSE (.+)$", DOCKERFILE, re.M)
    return {int(port) for port in line.split()}


def published(compose: str) -> list[str]:
    """The port mappings: list items of digits, dots and colons."""
    return re.findall(r'^\s*-\s*"([\d.:]+)"', compose, re.M)


def image_command() -> list[str]:
    """The image's ENTRYPOINT and CMD, as ``docker run`` would start them."""
    joined = DOCKERFILE.replace("\\\n", " ")
    (entrypoint,) = re.findall(r"^ENTRYPOINT (\[.*\])$", joined, re.M)
    (cmd,) = re.findall(r"^CMD (\[.*\])$", joined, re.M)
    return [*json.loads(entrypoint), *json.loads(cmd)]


def postgres_command() -> list[str]:
    """The command compose.postgres.yaml gives the same image."""
    (flow,) = re.findall(r"^    command: (\[.*?\])$", COMPOSE_PG, re.M | re.S)
    return ["smsemu", *json.loads(flow)]


def parsed(command: list[str]) -> Config:
    """What ``smsemu up`` makes of ``command``: the real parser, the real checks."""
    assert command[:2] == ["smsemu", "up"]
    return network(build_parser().parse_args(command[1:]), up=True)


def listeners(config: Config) -> list[str]:
    return [
        config.smsc.link,
        config.ip_server.listen,
        config.smsc.admin,
        config.control.listen,
        config.smsc.smpp,
    ]


def test_compose_publishes_every_exposed_port_on_loopback_only() -> None:
    mappings = published(COMPOSE)
    assert all(re.fullmatch(r"127\.0\.0\.1:(\d+):\1", m) for m in mappings), mappings
    assert {int(m.split(":")[1]) for m in mappings} == exposed()
    assert published(COMPOSE_PG) == []  # PostgreSQL stays inside


@pytest.mark.parametrize("command", [image_command, postgres_command], ids=["sqlite", "postgres"])
def test_the_container_listens_on_every_interface_at_the_exposed_ports(command: object) -> None:
    assert callable(command)
    config = parsed(command())
    specs = listeners(config)
    assert all(s.endswith(":interface=0.0.0.0") for s in specs), specs
    assert {int(s.split(":")[1]) for s in specs} == exposed()
    assert config.smsc.data_dir == Path("/data")  # the image's volume


def test_the_postgres_variant_is_the_image_command_on_postgresql_with_no_password() -> None:
    sqlite, postgres = image_command(), postgres_command()
    extra = [arg for arg in postgres if arg not in sqlite]
    assert extra == ["--database-url", "postgresql+psycopg://smsemu@postgres:5432/smsemu"]
    assert parsed(postgres).smsc.database_url == extra[1]
    # The password comes from the user's environment or .env, never a default.
    values = re.findall(r"^\s*(POSTGRES_PASSWORD|PGPASSWORD): (.*)$", COMPOSE_PG, re.M)
    assert sorted(name for name, _ in values) == ["PGPASSWORD", "POSTGRES_PASSWORD"]
    assert all(value.startswith("${POSTGRES_PASSWORD:?") for _, value in values), values


def test_the_image_runs_as_a_user_without_privileges() -> None:
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.M)
    assert users and users[-1] not in ("root", "0")


def sources() -> list[Path]:
    """Every file that may point at the documentation: README, pyproject,
    docs/, and the Python of the packages, the tests and the benchmarks."""
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = [pattern.rstrip("*") for pattern in find["packages"]["find"]["include"]]
    code = [p for d in (*packages, "tests", "bench") for p in sorted((ROOT / d).rglob("*.py"))]
    return [ROOT / "README.md", ROOT / "pyproject.toml", *sorted(ROOT.glob("docs/*.md")), *code]


def test_no_reference_to_the_spec_remains() -> None:
    """The SPEC is not in the repository: users read docs/ instead."""
    marker = "SPEC" + " §"
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sources()
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if marker in line
    ]
    assert found == []


def headings(doc: Path) -> set[str]:
    return {line.lstrip("#").strip() for line in doc.read_text().splitlines() if line[:1] == "#"}


def anchor(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def test_every_pointer_to_a_section_of_the_docs_names_one() -> None:
    """``docs/<name>.md §<Heading>`` in text (and each further ``§<Heading>``
    up to the next path), and ``[...](<name>.md#<anchor>)`` in Markdown,
    name headings of that doc."""
    wrong = []
    for path in sources():
        text, where = path.read_text(), path.relative_to(ROOT)
        doc: Path | None = None
        for m in re.finditer(r"((?:docs/)?[\w-]+\.md)|§([A-Z][a-z][\w-]*)", text):
            if m[1] is not None:
                doc = ROOT / m[1] if "/" in m[1] or m[1] == "README.md" else ROOT / "docs" / m[1]
            elif doc is None or not doc.exists() or m[2] not in headings(doc):
                wrong.append(f"{where}: §{m[2]} is no section of {doc}")
        for m in re.finditer(r"\]\(([\w/-]+\.md)#([\w-]+)\)", text):
            target = path.parent / m[1]
            if not target.exists() or m[2] not in {anchor(h) for h in headings(target)}:
                wrong.append(f"{where}: {m[1]}#{m[2]} is no heading")
    assert wrong == []


def test_the_readme_links_both_system_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    for doc in ("docs/read-receipts.md", "docs/history-query.md"):
        assert f"]({doc})" in readme
