"""The hidden staging directory `generate` builds files in, and how a dead run's leftover is found.

Each staging directory holds an owner file with the pid and host of the process building in it, under
a POSIX record lock (fcntl) for as long as that process lives. A POSIX lock belongs to the process, not
to the file descriptor, so forked pool workers do not keep it alive after their parent is killed, and
it works over NFS, where factory PCs often write. A run killed outright (`kill -9`, a power cut) leaves
its staging directory behind: the next run into the same output directory finds the lock free and
removes it. One whose owner still holds the lock is another run writing there: that is an error.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import IO

from codegen.errors import CodegenError, Kind

PREFIX = ".staging-"
OWNER_FILE = ".owner"


class StagingInUse(CodegenError):
    """A staging directory in the output directory belongs to a live run, or to one we cannot judge."""

    code = "output_in_use"
    kind = Kind.CONFLICT


class Staging:
    """A staging directory this process owns; `remove()` deletes it and drops the lock."""

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=out_dir))
        self._owner: IO[str] = (self.path / OWNER_FILE).open("w", encoding="ascii")
        # A file system without locks (ENOLCK) still gets the pid and host, judged by liveness below.
        with contextlib.suppress(OSError):
            fcntl.lockf(self._owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._owner.write(f"{os.getpid()} {socket.gethostname()}\n")
        self._owner.flush()

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self._owner.close()


def _read_owner(path: Path) -> tuple[int, str] | None:
    try:
        pid, host = (path / OWNER_FILE).read_text("ascii").split()
        return int(pid), host
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _owner_is_dead(path: Path, pid: int, host: str) -> bool:
    if pid == os.getpid() and host == socket.gethostname():
        return False  # ours: a lock test from the owning process would succeed and then release it
    try:
        with (path / OWNER_FILE).open("a", encoding="ascii") as fh:
            fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True  # nobody holds it; closing the file lets it go again
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
    # No lock to test: a process on this host that is gone is dead; another host's we cannot judge.
    return host == socket.gethostname() and not _pid_alive(pid)


def remove_stale(out_dir: Path) -> list[str]:
    """Remove staging directories left by dead runs; return their names. Raise StagingInUse for one a
    live run (or a run we cannot judge) owns."""
    removed = []
    for entry in sorted(out_dir.glob(PREFIX + "*")):
        if not entry.is_dir():
            continue
        owner = _read_owner(entry)
        if owner is None:
            raise StagingInUse(
                f"output directory {out_dir} holds {entry.name}, a hidden staging directory of an interrupted "
                f"run (or of one starting now): if no codegen generate is running, remove it (rm -r '{entry}')"
            )
        pid, host = owner
        if not _owner_is_dead(entry, pid, host):
            raise StagingInUse(
                f"another codegen generate (pid {pid} on {host}) is writing into {out_dir} ({entry.name}): "
                f"wait for it or stop it, or choose another --out"
            )
        shutil.rmtree(entry)
        removed.append(entry.name)
    return removed
