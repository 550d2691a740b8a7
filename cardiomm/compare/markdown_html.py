"""A minimal Markdown-to-HTML converter for the audit (headings, tables, lists, paragraphs, bold, code, images).

Only the subset that :func:`cardiomm.compare.audit.audit_markdown` writes; it lets the Snakemake report show
the audit inline without another dependency.
"""

from __future__ import annotations

import html
import re

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_IMAGE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>[^)]+)\)$")
_CODE = re.compile(r"`([^`]+)`")
_STYLE = ("body{font-family:sans-serif;max-width:1400px;margin:2em auto;line-height:1.4}"
          "table{border-collapse:collapse;font-size:0.85em;margin:1em 0}"
          "td,th{border:1px solid #bbb;padding:3px 6px;text-align:left}th{background:#eee}")


def _inline(text: str) -> str:
    t = html.escape(text, quote=False)
    t = _CODE.sub(r"<code>\1</code>", t)
    return _BOLD.sub(r"<b>\1</b>", t)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def markdown_to_html(md: str, title: str = "audit", images: dict[str, bytes] | None = None) -> str:
    """Convert the audit's Markdown to a standalone HTML page.

    A line ``![alt](src)`` becomes an image shown at its own size up to the page width; with ``images[src]`` (PNG
    bytes) it is inlined as a data URI, so the page (and the Snakemake report that embeds it) needs no other file.
    """
    import base64

    out, para, lines, i = [], [], md.splitlines(), 0

    def flush() -> None:
        if para:
            out.append(f"<p>{_inline(' '.join(para))}</p>")
            para.clear()

    while i < len(lines):
        line = lines[i]
        img = _IMAGE.match(line.strip())
        if img:
            flush()
            src = img["src"]
            if images and src in images:
                src = "data:image/png;base64," + base64.b64encode(images[src]).decode("ascii")
            out.append(f"<p><img src='{html.escape(src)}' alt='{html.escape(img['alt'])}' "
                       "style='max-width:100%;height:auto'></p>")
        elif line.startswith("#"):
            flush()
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
        elif line.startswith("|"):
            flush()
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                if not re.fullmatch(r"\|[\s\-:|]+\|?", lines[i].strip()):
                    rows.append(_cells(lines[i]))
                i += 1
            i -= 1
            head, body = rows[0], rows[1:]
            out.append("<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body]
            out.append("</table>")
        elif line.lstrip().startswith(("- ", "* ")):
            flush()
            out.append("<ul>")
            while i < len(lines) and lines[i].lstrip().startswith(("- ", "* ")):
                out.append(f"<li>{_inline(lines[i].lstrip()[2:])}</li>")
                i += 1
            i -= 1
            out.append("</ul>")
        elif not line.strip():
            flush()
        else:
            para.append(line.strip())
        i += 1
    flush()
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n")
