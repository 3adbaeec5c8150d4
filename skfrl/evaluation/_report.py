"""Render a report (Markdown and HTML) from a list of content blocks.

The ``skfrl audit`` command builds its report as blocks (headings,
paragraphs, lists, tables, figures) and renders them twice: a Markdown file
whose figures are PNG files next to it, and a self-contained HTML file with
the same figures embedded, so the report can be mailed as one file.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Report"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif;
       max-width: 64rem; margin: 2rem auto; padding: 0 1rem; color: #222;
       line-height: 1.45; }
h1, h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; }
th, td { border: 1px solid #ccc; padding: .25rem .55rem; text-align: right; }
th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; }
figcaption { color: #555; font-size: .9rem; }
code { background: #f3f3f3; padding: 0 .2rem; }
"""


_MARKDOWN_SPECIAL = "\\`*_{}[]<>#|!"


def escape_markdown(text: str) -> str:
    r"""Escape Markdown's special characters in text taken from the data.

    Column names, file names and group labels go into the report as they
    are in the HTML (escaped there by :func:`html.escape`); in Markdown a
    ``*`` or ``_`` in them would otherwise start emphasis.

    Examples
    --------
    >>> from skfrl.evaluation._report import escape_markdown
    >>> print(escape_markdown("income_>50K*"))
    income\_\>50K\*
    """
    return "".join("\\" + c if c in _MARKDOWN_SPECIAL else c for c in str(text))


def _format(value, floatfmt: str) -> str:
    if isinstance(value, float | np.floating):
        return "" if np.isnan(value) else format(float(value), floatfmt)
    return str(value)


def _markdown_table(frame: pd.DataFrame, floatfmt: str) -> str:
    frame = frame.reset_index() if _named_index(frame) else frame
    header = [escape_markdown(str(c)) for c in frame.columns]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for row in frame.itertuples(index=False):
        cells = [escape_markdown(_format(v, floatfmt)) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _named_index(frame: pd.DataFrame) -> bool:
    return any(name is not None for name in frame.index.names)


def _html_table(frame: pd.DataFrame, floatfmt: str) -> str:
    frame = frame.reset_index() if _named_index(frame) else frame
    return frame.to_html(
        index=False,
        border=0,
        na_rep="",
        float_format=lambda v: format(v, floatfmt),
    )


@dataclass
class Report:
    """A report built block by block, written as Markdown and HTML."""

    title: str
    blocks: list = field(default_factory=list)

    def heading(self, text: str) -> None:
        """Add a section heading."""
        self.blocks.append(("heading", text))

    def paragraph(self, text: str) -> None:
        """Add a paragraph (Markdown inline code with backticks is kept)."""
        self.blocks.append(("paragraph", text))

    def bullets(self, items: list[str]) -> None:
        """Add a bulleted list."""
        self.blocks.append(("bullets", list(items)))

    def table(self, frame: pd.DataFrame, *, floatfmt: str = ".3f") -> None:
        """Add a table."""
        self.blocks.append(("table", (frame, floatfmt)))

    def figure(self, fig, filename: str, caption: str) -> None:
        """Add a matplotlib figure, saved as ``filename`` (PNG)."""
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        self.blocks.append(("figure", (buffer.getvalue(), filename, caption)))

    def write(self, folder: Path) -> dict[str, Path]:
        """Write ``report.md``, ``report.html`` and the figures into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        md, page = [f"# {self.title}", ""], []
        for kind, content in self.blocks:
            if kind == "heading":
                md += [f"## {content}", ""]
                page.append(f"<h2>{html.escape(content)}</h2>")
            elif kind == "paragraph":
                md += [content, ""]
                page.append(f"<p>{_inline_html(content)}</p>")
            elif kind == "bullets":
                md += [f"- {item}" for item in content] + [""]
                items = "".join(f"<li>{_inline_html(i)}</li>" for i in content)
                page.append(f"<ul>{items}</ul>")
            elif kind == "table":
                frame, floatfmt = content
                md += [_markdown_table(frame, floatfmt), ""]
                page.append(_html_table(frame, floatfmt))
            else:
                png, filename, caption = content
                (folder / filename).write_bytes(png)
                md += [f"![{caption}]({filename})", "", f"*{caption}*", ""]
                data = base64.b64encode(png).decode("ascii")
                page.append(
                    f'<figure><img alt="{html.escape(caption)}" '
                    f'src="data:image/png;base64,{data}"/>'
                    f"<figcaption>{_inline_html(caption)}</figcaption></figure>"
                )
        paths = {"markdown": folder / "report.md", "html": folder / "report.html"}
        paths["markdown"].write_text("\n".join(md), encoding="utf-8")
        title = html.escape(self.title)
        paths["html"].write_text(
            "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{title}</title><style>{_CSS}</style></head><body>"
            f"<h1>{title}</h1>\n" + "\n".join(page) + "\n</body></html>\n",
            encoding="utf-8",
        )
        return paths


def _inline_html(text: str) -> str:
    """Escape ``text`` and turn Markdown ``code`` and **bold** spans into HTML."""
    parts = html.escape(text).split("`")
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{part}</code>")
        else:
            bold = part.split("**")
            out.append(
                "".join(f"<b>{b}</b>" if j % 2 else b for j, b in enumerate(bold))
            )
    return "".join(out)
