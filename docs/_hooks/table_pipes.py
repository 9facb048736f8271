"""MkDocs hook: a `|` inside code in a table cell, written `\\|` as GitHub needs it.

GitHub splits table cells at every unescaped `|`, even inside backticks, so the pages write
`docker\\|kubernetes` there. Python-Markdown does not split at a pipe inside backticks and keeps
the backslash, so the site would show `docker\\|kubernetes`. This hook drops that backslash from
the inline code of table cells, so both renderings read `docker|kubernetes`.
"""

from __future__ import annotations

import re
from typing import Any

_CELL = re.compile(r"<td([^>]*)>(.*?)</td>", re.S)
_CODE = re.compile(r"<code>(.*?)</code>", re.S)


def _unescape_code(match: re.Match[str]) -> str:
    return "<code>" + match.group(1).replace("\\|", "|") + "</code>"


def _cell(match: re.Match[str]) -> str:
    return f"<td{match.group(1)}>" + _CODE.sub(_unescape_code, match.group(2)) + "</td>"


def on_page_content(html: str, **_: Any) -> str:
    return _CELL.sub(_cell, html)
