"""Settings from the environment (and, later, a config file).

``VALENCE_HOME``          data directory (default: the per-user data dir)
``VALENCE_DATABASE_URL``  SQLAlchemy URL (default: SQLite file in the home)
``VALENCE_EXECUTOR``      default executor name (default: ``local``)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

DEFAULT_EXECUTOR = "local"


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one process."""

    home: Path
    database_url: str
    executor: str

    @property
    def blob_dir(self) -> Path:
        return self.home / "blobs"


def load_settings() -> Settings:
    """Read settings from the environment, creating the home directory."""
    home = Path(os.environ.get("VALENCE_HOME") or platformdirs.user_data_dir("valence"))
    home = home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    url = os.environ.get("VALENCE_DATABASE_URL") or f"sqlite:///{home / 'valence.db'}"
    executor = os.environ.get("VALENCE_EXECUTOR") or DEFAULT_EXECUTOR
    return Settings(home=home, database_url=url, executor=executor)
