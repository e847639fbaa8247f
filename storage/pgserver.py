"""A throwaway PostgreSQL server: for the tests, the benches, and ``smsemu up
--workers N`` when it is asked to start one (a cluster's nodes need a
PostgreSQL they share; docs/scaling.md).

``TemporaryPostgres`` runs ``initdb`` into a fresh temporary directory, starts the
server on 127.0.0.1 (TCP only on loopback, a free port, its unix socket inside that
directory), creates a database and gives its SQLAlchemy URL; on exit it stops the
server (``pg_ctl stop -m fast``) and removes the directory::

    with TemporaryPostgres() as url:   # postgresql+psycopg://postgres:PASSWORD@127.0.0.1:PORT/smsemu
        engine = sqlalchemy.create_engine(url)

Nobody else on the host gets in: TCP asks for a password (SCRAM), generated for
each server and carried only by its URL, and the unix socket sits in the server's
own directory (mode 0700).

A server whose owner died without stopping it (killed, or a pytest-xdist worker
lost with its controller) is stopped and removed when the next one starts: the
directory holds its owner's process ID.

PostgreSQL refuses to run as root, so under root (CI) the server programs run as the
``postgres`` system user that Debian's package creates, and the directory is theirs.

The binaries are found by ``find_bindir``, in the same order as
``scripts/ensure-postgres``, which installs them when they are missing.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

SERVER_PROGRAMS = ("initdb", "postgres", "pg_ctl")
BINDIR_ENV = "SMSEMU_PG_BINDIR"


def _has_server(bindir: str | os.PathLike[str]) -> bool:
    return all(os.access(Path(bindir, name), os.X_OK) for name in SERVER_PROGRAMS)


def _version_key(bindir: str) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin; "9.6" < "10" < "16".
    return tuple(int(part) for part in re.findall(r"\d+", Path(bindir).parent.name))


def find_bindir() -> str | None:
    """The directory holding initdb, postgres and pg_ctl, or None.

    $SMSEMU_PG_BINDIR if set, else the highest /usr/lib/postgresql/*/bin (Debian),
    else ``pg_config --bindir``, else the directory of pg_ctl on PATH.
    """
    explicit = os.environ.get(BINDIR_ENV)
    if explicit:
        return explicit if _has_server(explicit) else None
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True):
        if _has_server(bindir):
            return bindir
    pg_config = shutil.which("pg_config")
    if pg_config:
        # Debian's libpq-dev pg_config names the server's bindir even when the server
        # is not installed, hence the _has_server check.
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            if out and _has_server(out):
                return out
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        bindir = str(Path(pg_ctl).resolve().parent)
        if _has_server(bindir):
            return bindir
    return None


#: How the name of a server's temporary directory starts.
PREFIX = "smsemu-pg-"
#: The file in a server's directory that holds the process ID of its owner.
OWNER = "owner.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PostgresError(RuntimeError):
    """The temporary server could not be set up."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _clean_env() -> dict[str, str]:
    # PGDATA, PGPORT, PGHOST, PGOPTIONS, ... of the caller must not leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"  # untranslated messages, whatever the caller's locale
    return env


class TemporaryPostgres:
    """A PostgreSQL server in a temporary directory; a context manager giving its URL."""

    def __init__(
        self,
        *,
        dbname: str = "smsemu",
        user: str = "postgres",
        bindir: str | None = None,
        timeout: float = 60.0,
        run_as: str = "postgres",
        prefix: str = PREFIX,
    ) -> None:
        """``run_as`` is the system user the server runs as when we are root;
        ``prefix`` starts the name of its temporary directory (``PREFIX``
        and more: servers of dead processes are swept by ``PREFIX``)."""
        self.prefix = prefix
        self.dbname = dbname
        self.user = user
        self.timeout = timeout
        self.run_as = run_as
        found = bindir or find_bindir()
        if found is None or not _has_server(found):
            raise PostgresError(
                "PostgreSQL server binaries (initdb, postgres, pg_ctl) not found; "
                "run scripts/ensure-postgres"
            )
        self.bindir = Path(found)
        self.port: int | None = None
        self.tmpdir: Path | None = None
        self.password = secrets.token_urlsafe(24)
        self._env = _clean_env()

    # -- paths -------------------------------------------------------------------
    @property
    def datadir(self) -> Path:
        assert self.tmpdir is not None, "server not started"
        return self.tmpdir / "data"

    @property
    def logfile(self) -> Path:
        assert self.tmpdir is not None, "server not started"
        return self.tmpdir / "server.log"

    @property
    def url(self) -> str:
        assert self.port is not None, "server not started"
        return (
            f"postgresql+psycopg://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.dbname}"
        )

    # -- running programs --------------------------------------------------------
    def _server_user(self) -> pwd.struct_passwd | None:
        """The account the server programs run as: None for ourselves (not root)."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(self.run_as)
        except KeyError:
            raise PostgresError(
                f"running as root, which PostgreSQL refuses, and there is no system user "
                f"{self.run_as!r} to run it as (Debian's postgresql package creates it: "
                f"run scripts/ensure-postgres)"
            ) from None

    def _run(self, args: Sequence[str | os.PathLike[str]], *, as_server: bool) -> str:
        """Run a program of bindir; as the server's user when ``as_server`` and root."""
        env = dict(self._env, PGPASSWORD=self.password)
        pw = self._server_user() if as_server else None
        if pw is not None:
            env.update(HOME=pw.pw_dir, USER=pw.pw_name, LOGNAME=pw.pw_name)
        cmd = [str(self.bindir / str(args[0])), *map(str, args[1:])]
        try:
            proc = subprocess.run(
                cmd,
                # initdb and pg_ctl need a cwd they can read: not root's home.
                cwd=self.tmpdir,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=self.timeout + 30,
                # setuid/setgid in the child, dropping root's supplementary groups.
                user=None if pw is None else pw.pw_uid,
                group=None if pw is None else pw.pw_gid,
                extra_groups=None if pw is None else [],
            )
        except subprocess.TimeoutExpired as e:
            raise PostgresError(f"{' '.join(cmd)} timed out after {e.timeout}s") from None
        if proc.returncode != 0:
            raise PostgresError(
                f"{' '.join(cmd)} exited with {proc.returncode}:\n{proc.stdout}{proc.stderr}"
                + self._log_tail()
            )
        return proc.stdout

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.logfile.read_text(errors="replace")
        except (OSError, AssertionError):
            return ""
        return "\n--- server log (tail) ---\n" + "\n".join(text.splitlines()[-lines:])

    # -- life cycle --------------------------------------------------------------
    def start(self) -> str:
        if self.tmpdir is not None:
            raise PostgresError("already started")
        self._sweep()
        # Short: the socket path (<tmpdir>/.s.PGSQL.<port>) must fit in ~107 bytes.
        self.tmpdir = Path(tempfile.mkdtemp(prefix=self.prefix))
        (self.tmpdir / OWNER).write_text(str(os.getpid()))
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self.url

    def _start(self) -> None:
        assert self.tmpdir is not None
        pw = self._server_user()
        if pw is not None:
            os.chown(self.tmpdir, pw.pw_uid, pw.pw_gid)
        pwfile = self.tmpdir / "password"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if pw is not None:
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        self._run(
            [
                "initdb",
                "--pgdata",
                self.datadir,
                "--username",
                self.user,
                "--auth-local",
                "trust",
                "--auth-host",
                "scram-sha-256",
                "--pwfile",
                pwfile,
                "--encoding",
                "UTF8",
                "--no-locale",
            ],
            as_server=True,
        )
        pwfile.unlink()
        # Trust only the unix socket (inside tmpdir, 0700); loopback TCP by password.
        (self.datadir / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
        )
        sockdir = str(self.tmpdir).replace("'", "''")
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# smsemu storage/pgserver.py\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{sockdir}'\n"
                # A throwaway server: nothing in it has to outlive a crash of
                # the machine, so no fsync (CREATE DATABASE for each test, and
                # every commit, cost a flush otherwise).  A process killed with
                # SIGKILL still loses nothing the server committed.
                "fsync = off\n"
                "synchronous_commit = off\n"
                "full_page_writes = off\n"
            )
        # The port is free when we look but may be taken before the server binds it.
        for attempt in range(5):
            self.port = _free_port()
            self.logfile.unlink(missing_ok=True)  # so the error shows this attempt's log
            try:
                self._run(
                    [
                        "pg_ctl",
                        "start",
                        "--pgdata",
                        self.datadir,
                        "--log",
                        self.logfile,
                        "--wait",
                        "--timeout",
                        str(int(self.timeout)),
                        "--options",
                        f"-p {self.port}",
                    ],
                    as_server=True,
                )
                break
            except PostgresError as e:
                if attempt == 4 or "could not bind" not in str(e):
                    raise
        self._run(
            [
                "createdb",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--username",
                self.user,
                self.dbname,
            ],
            as_server=False,
        )

    def _sweep(self) -> None:
        """Stop and remove the servers of earlier runs whose process died
        without stopping them (killed, or a pytest-xdist worker lost with its
        controller): each directory names its owner's process ID."""
        for directory in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
            try:
                owner = int((directory / OWNER).read_text())
            except (OSError, ValueError):
                continue  # not one of ours, or still being made
            if _alive(owner):
                continue
            left = TemporaryPostgres(bindir=str(self.bindir), timeout=self.timeout,
                                     run_as=self.run_as)  # fmt: skip
            left.tmpdir = directory
            left.stop()

    def stop(self) -> None:
        """Stop the server (fast: rolls back open transactions) and remove the directory."""
        if self.tmpdir is None:
            return
        try:
            if (self.datadir / "postmaster.pid").exists():
                self._stop_server()
        finally:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
            self.port = None

    def _stop_server(self) -> None:
        try:
            self._run(
                [
                    "pg_ctl",
                    "stop",
                    "--pgdata",
                    self.datadir,
                    "--mode",
                    "fast",
                    "--wait",
                    "--timeout",
                    str(int(self.timeout)),
                ],
                as_server=True,
            )
            return
        except PostgresError:
            pass
        # Did not stop in time: kill the postmaster (its children follow it).
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.datadir / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGQUIT)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                os.kill(pid, 0)  # raises once it is gone
                time.sleep(0.05)
            os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
