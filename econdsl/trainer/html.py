"""A self-contained HTML page from the markdown the reports write: headings, paragraphs, bullet lists, pipe
tables, ``code``, **bold** and images, which are embedded as base64 so that the page can be mailed or
archived alone."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

CSS = ("body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}"
       "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
       "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
       "img{max-width:100%;border:1px solid #eee}figcaption{font-size:13px;color:#555}"
       "li{margin:.2em 0}code{background:#f4f4f4;padding:0 3px}")


def _inline(text: str) -> str:
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)


def _image(caption: str, file: str, base: Path) -> str:
    path = base / file
    if not path.is_file():
        return f"<p>(missing figure {html.escape(file)})</p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_inline(caption)}</figcaption></figure>")


def _row(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def markdown_page(md: str, base: Path, title: str) -> str:
    """The page of ``md``; image paths are relative to ``base``."""
    body: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        ln = lines[i]
        if not ln.strip():
            i += 1
        elif m := re.match(r"(#{1,4}) (.*)", ln):
            body.append(f"<h{len(m.group(1))}>{_inline(m.group(2))}</h{len(m.group(1))}>")
            i += 1
        elif m := re.match(r"!\[(.*)\]\((.*)\)\s*$", ln):
            body.append(_image(m.group(1), m.group(2), base))
            i += 1
        elif ln.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            rows = [_row(b) for b in block if not re.fullmatch(r"\|[-:| ]+\|", b.strip())]
            body.append("<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in rows[0]) + "</tr>"
                        + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
                        + "</table>")
        elif ln.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            body.append("<ul>" + "".join(items) + "</ul>")
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not re.match(r"(#|!\[|\||- )", lines[i]):
                para.append(lines[i])
                i += 1
            body.append(f"<p>{_inline(' '.join(para))}</p>")
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>")
