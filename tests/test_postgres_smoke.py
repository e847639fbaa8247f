"""The tests' PostgreSQL is a real server: SQL, transactions, over TCP on loopback."""

from __future__ import annotations

import pytest
import sqlalchemy as sa


def test_real_postgres_server(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
    metadata = sa.MetaData()
    smoke = sa.Table(
        "smoke",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
    )
    try:
        with engine.connect() as conn:
            version = conn.execute(sa.text("SELECT version()")).scalar_one()
            assert version.startswith("PostgreSQL "), version
            # TCP to the loopback address, not a file or an in-process stand-in.
            assert conn.execute(sa.text("SELECT host(inet_server_addr())")).scalar_one() == (
                "127.0.0.1"
            )

        metadata.create_all(engine)
        with engine.begin() as conn:  # one transaction: commits on leaving the block
            conn.execute(smoke.insert(), [{"body": "hello"}, {"body": "wörld"}])
            # Our own uncommitted rows are visible inside the transaction.
            assert conn.execute(sa.select(sa.func.count()).select_from(smoke)).scalar_one() == 2

        # A rolled-back insert leaves nothing behind.
        with engine.connect() as conn:
            conn.execute(smoke.insert(), {"body": "gone"})
            conn.rollback()

        # Read back on another connection: only what was committed.
        with engine.connect() as conn:
            rows = conn.execute(sa.select(smoke.c.id, smoke.c.body).order_by(smoke.c.id)).all()
            assert [tuple(r) for r in rows] == [(1, "hello"), (2, "wörld")]
    finally:
        metadata.drop_all(engine)
        engine.dispose()


def test_a_stranger_on_the_host_without_the_password_is_refused(postgres_url: str) -> None:
    """The throwaway server (storage.pgserver) trusts no one on loopback TCP:
    its generated password travels only in the URL it gives its owner."""
    url = sa.engine.make_url(postgres_url)
    assert url.password  # generated, not empty
    where = f"{url.host}:{url.port}/{url.database}"
    for guess in (f"{url.username}@{where}", f"{url.username}:postgres@{where}"):
        engine = sa.create_engine(f"postgresql+psycopg://{guess}")
        try:
            with pytest.raises(sa.exc.OperationalError, match="password"), engine.connect():
                pass
        finally:
            engine.dispose()
