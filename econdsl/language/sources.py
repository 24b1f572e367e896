"""Reading ``.econ`` files: bounded in size, regular files only, and invalid UTF-8 reported where it is.

Both ``check_file`` and the import loader read through :func:`read_source`, so ``econdsl check /dev/zero`` and
``import "/dev/zero"`` end in an E104 diagnostic instead of reading without bound.
"""

from __future__ import annotations

import stat
from pathlib import Path

from . import ast
from .diagnostics import Diagnostics

MAX_SOURCE_BYTES = 4 << 20  # 4 MiB: a hundred times the largest model in models/


def read_source(path: str | Path, diags: Diagnostics, span: ast.Span = ast.NOWHERE) -> str | None:
    """The text of ``path``, or None after an E104 diagnostic (at ``span``: the import, or nowhere)."""
    path = Path(path)
    if span == ast.NOWHERE:  # a file named on the command line: the diagnostic names it
        span = ast.Span(str(path), 1, 1, 1, 1)
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            what = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            diags.add("E104", f"cannot read `{path}`: it is {what}", span, "give the path of a .econ file")
            return None
        with open(path, "rb") as f:
            data = f.read(MAX_SOURCE_BYTES + 1)
    except OSError as e:
        diags.add("E104", f"cannot read `{path}`: {e.strerror or e.__class__.__name__}", span)
        return None
    if len(data) > MAX_SOURCE_BYTES:
        diags.add("E104", f"cannot read `{path}`: it is larger than the limit of {MAX_SOURCE_BYTES >> 20} MiB for a "
                          f"model file", span, "a model file is text of at most a few hundred kilobytes")
        return None
    try:
        # CRLF line ends become LF; a lone CR is kept (inside a comment it is part of the comment, elsewhere
        # it is an unexpected character), where universal newlines would have turned it into a line break.
        return data.decode("utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError as e:
        before = data[:e.start].decode("utf-8", errors="replace")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        diags.sources[str(path)] = data.decode("utf-8", errors="replace")
        diags.add("E104", f"`{path}` is not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})",
                  ast.Span(str(path), line, col, line, col + 1), "save the file as UTF-8")
        return None
