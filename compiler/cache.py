"""The artifact cache: generated modules stored under a hash of IR, shapes, dtype and versions.

Location: ``$ECONDSL_CACHE`` if set, else ``~/.cache/econdsl``. Keys are SHA-256 digests, so a file
is only ever reused for exactly the same program, backend, dtype, device kind, software versions and
compiler source code (econdsl's version number does not change with every edit of a printer, so the
text of the compiler's own files is part of the key: :func:`code_fingerprint`).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import torch

from .ir import Program

CACHE_FORMAT = "1"


def cache_dir() -> Path:
    root = os.environ.get("ECONDSL_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "econdsl"


def program_fingerprint(program: Program) -> str:
    """A stable text of everything that determines generated code (``repr`` of the IR dataclasses)."""
    parts = [program.model, repr(program.populations), repr(program.singletons), repr(program.agents),
             str(program.horizon), repr(program.buffers), repr(program.heads), repr(program.runtime_consts),
             repr(program.uniforms)]
    for fn in program.functions():
        parts.append(repr(fn.ops))
        parts.append(repr(fn.outputs))
    return "\n".join(parts)


def code_files() -> list[Path]:
    """The compiler's own source files (lowering, optimiser, printers, launchers): what generated code
    depends on besides the IR."""
    here = Path(__file__).resolve().parent
    return sorted(here.glob("*.py")) + sorted((here / "backends").glob("*.py"))


@lru_cache(maxsize=8)
def _fingerprint(paths: tuple[Path, ...]) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def code_fingerprint() -> str:
    """SHA-256 of the compiler's source files (computed once per process and set of files)."""
    return _fingerprint(tuple(code_files()))


def key(program: Program, **extra: str) -> str:
    """The cache key of a program compiled with the given options (dtype, device kind, backend …)."""
    from importlib.metadata import PackageNotFoundError, version

    try:  # read from the package metadata: importing triton itself takes most of a second
        triton_version = version("triton")
    except PackageNotFoundError:  # triton is optional (not on every platform)
        triton_version = "none"

    h = hashlib.sha256()
    for part in (CACHE_FORMAT, version("econdsl"), code_fingerprint(), torch.__version__, triton_version,
                 program_fingerprint(program), repr(sorted(extra.items()))):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def artifact_path(key: str, filename: str) -> Path:
    return cache_dir() / key[:2] / key / filename


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so concurrent processes never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def file_stem(model: str) -> str:
    """A file name for generated sources from a model name: ASCII word characters only."""
    stem = "".join(ch if (ch.isascii() and (ch.isalnum() or ch == "_")) else "_" for ch in model)
    return stem or "model"
