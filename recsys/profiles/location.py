"""Where the profile store lives: the default place, and what a `--profiles` value means.

Accepted: a file path; `sqlite:///relative.db` or `sqlite:////absolute.db` (SQLAlchemy's
spelling); a SQLite `file:` URI (e.g. `file:/srv/profiles.db?mode=ro` to open read-only);
`postgresql://…` (or `postgres://…`) for a PostgreSQL database.
"""

from __future__ import annotations

import os
import re
import sys
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from recsys.profiles.errors import ProfileError

PROFILES_ENV = "MOVIEREC_PROFILES"
FILE_NAME = "profiles.db"
FORMS = (
    "a file path, sqlite:///relative.db, sqlite:////absolute.db, "
    "file:PATH?mode=ro, or postgresql://user@host/dbname"
)


@dataclass(frozen=True)
class Location:
    kind: str  # "sqlite" or "postgresql"
    target: str  # sqlite: a file: URI for sqlite3; postgresql: the connection URL
    path: Path | None  # sqlite: the database file
    read_only: bool
    shown: str  # for messages: the path, or the URL without its password


def default_location(env: Mapping[str, str] | None = None, platform: str | None = None) -> str:
    """`$MOVIEREC_PROFILES`, else profiles.db in the user's data directory for this platform.

    Linux and other Unix: `$XDG_DATA_HOME/movierec` or `~/.local/share/movierec`; macOS:
    `~/Library/Application Support/movierec`; Windows: `%LOCALAPPDATA%\\movierec`.
    """
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if env.get(PROFILES_ENV):
        return env[PROFILES_ENV]
    if platform == "win32":
        base = env.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return str(Path(base) / "movierec" / FILE_NAME)
    if platform == "darwin":
        return str(Path.home() / "Library" / "Application Support" / "movierec" / FILE_NAME)
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base).expanduser() / "movierec" / FILE_NAME)


def parse_location(value: str | os.PathLike[str]) -> Location:
    """What `value` names, or a ProfileError listing the accepted forms."""
    text = os.fspath(value)
    if not text:
        raise ProfileError(f"the profile store location is empty; give {FORMS}")
    scheme = text.split(":", 1)[0].lower() if re.match(r"[A-Za-z][\w+.-]+:", text) else ""
    if scheme in ("postgresql", "postgres"):
        return Location("postgresql", text, None, False, _without_password(text))
    if scheme == "sqlite":
        return _sqlite_url(text)
    if scheme == "file":
        return _file_uri(text)
    if "://" in text:
        raise ProfileError(f"unsupported profile store {text.split('://')[0]!r}; give {FORMS}")
    return _sqlite_path(Path(text).expanduser(), read_only=False)


def _sqlite_path(path: Path, *, read_only: bool) -> Location:
    mode = "ro" if read_only else "rw"
    uri = f"{path.absolute().as_uri()}?mode={mode}"
    return Location("sqlite", uri, path, read_only, str(path))


def _sqlite_url(text: str) -> Location:
    parts = urllib.parse.urlsplit(text)
    if parts.netloc or not parts.path.startswith("/") or parts.path == "/":
        raise ProfileError(
            f"{text!r}: write sqlite:///relative/profiles.db or sqlite:////absolute/profiles.db"
        )
    query = urllib.parse.parse_qs(parts.query)
    path = Path(urllib.parse.unquote(parts.path[1:])).expanduser()
    return _sqlite_path(path, read_only=query.get("mode") == ["ro"])


def _file_uri(text: str) -> Location:
    parts = urllib.parse.urlsplit(text)
    if parts.netloc not in ("", "localhost"):
        raise ProfileError(f"{text!r}: a file: URI must name a local file")
    path = Path(urllib.parse.unquote(parts.path))
    query = urllib.parse.parse_qs(parts.query)
    return Location("sqlite", text, path, query.get("mode") == ["ro"], str(path))


def _without_password(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is not None:
        host = parts.netloc.rsplit("@", 1)[1]
        url = urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
    return re.sub(r"([?&]password=)[^&]*", r"\1***", url)
