"""The one storage layer of the product: engines, migrations, and the database
thread that commits in groups.

Each component (SMSC, handset, IP server) keeps its own models, Alembic
migrations and repository; what they share is here:

- ``engine``: an engine on a URL, with the SQLite settings a component needs;
- ``migrations``: a component's Alembic migrations, with its own version table;
- ``errors``: a database that cannot be used, in one line (``StorageError``),
  and URLs printed without their passwords;
- ``worker``: one thread per store that runs queued work as one transaction
  and tells each caller once its work is committed;
- ``pgnotify``: PostgreSQL's LISTEN/NOTIFY, how the nodes of a cluster tell
  each other of new work.
"""

from .engine import SqliteSettings, check_url, open_engine, sqlite_file_url
from .errors import StorageError, safe_url
from .migrations import migrate, run_env
from .worker import Worker

__all__ = [
    "SqliteSettings",
    "StorageError",
    "Worker",
    "check_url",
    "migrate",
    "open_engine",
    "run_env",
    "safe_url",
    "sqlite_file_url",
]
