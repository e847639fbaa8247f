"""The one storage layer of the product: engines, migrations, and the database
thread that commits in groups.

Each component (SMSC, handset, IP server) keeps its own models, Alembic
migrations and repository; what they share is here:

- ``engine``: an engine on a URL, with the SQLite settings a component needs;
- ``migrations``: a component's Alembic migrations, with its own version table;
- ``worker``: one thread per store that runs queued work as one transaction
  and tells each caller once its work is committed.
"""

from .engine import SqliteSettings, open_engine, sqlite_file_url
from .migrations import migrate, run_env
from .worker import Worker

__all__ = ["SqliteSettings", "Worker", "migrate", "open_engine", "run_env", "sqlite_file_url"]
