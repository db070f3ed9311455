"""var/: the embedded default's data and secrets (SQLite file, Redis AOF, master keys, generated secrets).

Everything in it is for the owner's eyes only: the directory is 0700 and the files yima creates there
0600, whatever the umask (a shared machine's 022 would make a database of member scans world-readable).
Files created by older versions are tightened when yima next starts.
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Callable
from pathlib import Path

from codegen.fileio import atomic_write

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def tighten(path: Path) -> None:
    """Take group and other permissions off an existing file or directory."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode) or not mode & 0o077:
        return
    path.chmod(PRIVATE_DIR if stat.S_ISDIR(mode) else PRIVATE_FILE)


def private_dir(path: Path) -> Path:
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    tighten(path)
    return path


def private_sqlite_file(database_url: str, var_dir: Path) -> None:
    """Create the embedded SQLite file 0600 before SQLite does (its -wal and -shm files then take the
    database file's mode); an older, wider one is tightened. A database outside var/ is left alone."""
    if not database_url.startswith("sqlite:///"):
        return
    path = Path(database_url.removeprefix("sqlite:///"))
    if not path.is_absolute() or not path.resolve().is_relative_to(var_dir.resolve()):
        return
    private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    for suffix in ("", "-wal", "-shm", "-journal"):
        tighten(path.with_name(path.name + suffix))


def create_once(path: Path, make: Callable[[], bytes]) -> str:
    """Read a file that the first of several racing processes creates (gunicorn workers booting at
    once on a fresh var/): the check and the write happen under one lock, so all read the same value."""
    if not path.exists():
        private_dir(path.parent)
        fd = os.open(path.parent / ".create.lock", os.O_WRONLY | os.O_CREAT, PRIVATE_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if not path.exists():
                atomic_write(path, make(), mode=PRIVATE_FILE)
        finally:
            os.close(fd)  # releases the lock
    return path.read_text().strip()
