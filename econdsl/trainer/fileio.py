"""Crash-safe files of a run directory: atomic replacement (write, fsync, rename), econdsl's own temporary
names, and errors that say what could not be written and why (disk full, read-only, permission).

A temporary file is always ``<name>.econdsl-tmp`` next to its target, so that only names econdsl created are
ever removed (:func:`remove_temporaries`), never a file of the user's. Torch-free.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

TMP_SUFFIX = ".econdsl-tmp"


class RunError(RuntimeError):
    """A run directory that cannot be created, written, read or resumed (exit status 1)."""


class FileWriteError(RunError):
    """A file could not be written; the previous version (if any) is untouched and no temporary is left."""

    def __init__(self, message: str, errno_: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_


def describe(e: OSError) -> str:
    """The reason of an OSError in words, with a hint for the cases a user can fix."""
    if e.errno == errno.ENOSPC:
        return "no space left on the device (disk full); free some space and rerun"
    if e.errno == errno.EDQUOT:
        return "disk quota exceeded; free some space and rerun"
    if e.errno in (errno.EROFS,):
        return "the file system is read-only"
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if e.errno == errno.ENAMETOOLONG:
        return "the file name is too long"
    return e.strerror or str(e)


def temporary(path: Path) -> Path:
    return path.with_name(path.name + TMP_SUFFIX)


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (best effort: some file systems refuse to open directories)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Replace ``path`` by ``data``: a reader, a crash or a full disk sees the old file or the new one, never
    a part of one, and no temporary is left behind. Raises :class:`FileWriteError` naming the file."""
    path = Path(path)
    tmp = temporary(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise FileWriteError(f"cannot write `{path}`: {describe(e)}", e.errno) from None
    except BaseException:  # Ctrl-C mid-write: the old file stays, the temporary goes
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def write_figure(fig, path: str | Path, **savefig: object) -> None:
    """A matplotlib figure written like :func:`write_atomic` (rendered in memory first)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, **savefig)
    write_atomic(path, buf.getvalue())


def remove_temporaries(directory: str | Path) -> list[Path]:
    """Remove the temporaries econdsl left in ``directory`` when a process was killed mid-write."""
    removed = []
    with contextlib.suppress(OSError):
        for p in Path(directory).iterdir():
            if p.name.endswith(TMP_SUFFIX) and p.is_file() and not p.is_symlink():
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed.append(p)
    return removed
