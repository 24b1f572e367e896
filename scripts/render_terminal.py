"""Render captured terminal text as a PNG, for the screenshots in docs/img/. Colours are kept: capture with
``tmux capture-pane -e -p`` (basic, 256-colour and true-colour SGR codes, bold and dim are understood).

Usage: python scripts/render_terminal.py CAPTURE.txt OUT.png [--cols 80]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

FG = "#e6e6e6"
BASIC = ["#1e1e1e", "#e06c75", "#98c379", "#e5c07b", "#61afef", "#c678dd", "#56b6c2", "#dcdfe4"]
BRIGHT = ["#5c6370", "#ff7b86", "#b5e890", "#ffd68a", "#7cc4ff", "#de9bff", "#7fd4df", "#ffffff"]
SGR = re.compile(r"\x1b\[([0-9;]*)m")
OTHER = re.compile(r"\x1b\[[0-9;?]*[A-Za-ln-z]")


def _xterm(n: int) -> str:
    if n < 8:
        return BASIC[n]
    if n < 16:
        return BRIGHT[n - 8]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return _hex(steps[n // 36], steps[n // 6 % 6], steps[n % 6])
    g = 8 + 10 * (n - 232)
    return _hex(g, g, g)


def _hex(r: int, g: int, b: int) -> str:
    return f"#{r:02x}{g:02x}{b:02x}"


def _apply(codes: str, style: dict) -> None:
    parts = [int(p) if p else 0 for p in codes.split(";")] if codes else [0]
    k = 0
    while k < len(parts):
        c = parts[k]
        if c == 0:
            style.update(color=FG, bold=False, dim=False)
        elif c == 1:
            style["bold"] = True
        elif c == 2:
            style["dim"] = True
        elif c == 22:
            style.update(bold=False, dim=False)
        elif 30 <= c <= 37:
            style["color"] = BASIC[c - 30]
        elif 90 <= c <= 97:
            style["color"] = BRIGHT[c - 90]
        elif c == 39:
            style["color"] = FG
        elif c == 38 and k + 2 < len(parts) and parts[k + 1] == 5:
            style["color"] = _xterm(parts[k + 2])
            k += 2
        elif c == 38 and k + 4 < len(parts) and parts[k + 1] == 2:
            style["color"] = _hex(*parts[k + 2:k + 5])
            k += 4
        k += 1


def render(text: str, out: Path, cols: int = 80) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = OTHER.sub("", text).rstrip("\n").split("\n")
    while lines and not SGR.sub("", lines[-1]).strip():
        lines.pop()
    char_w, line_h, pad = 0.1, 0.21, 0.2  # inches per character cell at 11 pt DejaVu Sans Mono
    width, height = cols * char_w + 2 * pad, len(lines) * line_h + 2 * pad
    fig = plt.figure(figsize=(width, height), dpi=110)
    fig.patch.set_facecolor("#1e1e1e")
    style = {"color": FG, "bold": False, "dim": False}
    for row, line in enumerate(lines):
        col = 0
        y = 1 - (pad + (row + 0.8) * line_h) / height
        pos = 0
        for m in [*SGR.finditer(line), None]:
            chunk = line[pos:m.start()] if m else line[pos:]
            for ch in chunk:  # one cell per character, so that columns line up exactly
                if col < cols and ch != " ":
                    fig.text((pad + col * char_w) / width, y, ch, family="DejaVu Sans Mono", fontsize=11,
                             color=style["color"], alpha=0.6 if style["dim"] else 1.0,
                             fontweight="bold" if style["bold"] else "normal")
                col += 1
            if m is None:
                break
            _apply(m.group(1), style)
            pos = m.end()
    fig.savefig(out, facecolor=fig.get_facecolor())
    plt.close(fig)


if __name__ == "__main__":
    args = sys.argv[1:]
    cols = int(args[args.index("--cols") + 1]) if "--cols" in args else 80
    render(Path(args[0]).read_text(encoding="utf-8"), Path(args[1]), cols)
