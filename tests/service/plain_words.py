"""What a page for civil servants must not say: the runtime's words (container, network, CPU,
MiB, env, ...), a raw ISO timestamp, or a duration over a minute in seconds. `assert_plain`
checks the text a person reads (tags, attributes, scripts and styles removed), so a
`<time datetime="...">` or a `data-expires-at` attribute, which people do not read, is fine.
The service page tests and the browser tests both use it.
"""

from __future__ import annotations

import html as html_module
import re

RUNTIME_WORDS = re.compile(
    r"\b(containers?|networks?|namespaces?|pods?|cpu|mib|gib|env|readiness probe|"
    r"exit code|exited with code)\b",
    re.IGNORECASE,
)
ISO_TIMESTAMP = re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
SECONDS = re.compile(r"\b(\d+)\s*(?:s|secs?|seconds?)\b", re.IGNORECASE)


def readable_text(page: str) -> str:
    """The words a person reads on a page: no tags, attributes, scripts or styles."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    page = re.sub(r"<!--.*?-->", " ", page, flags=re.S)
    page = re.sub(r"<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", html_module.unescape(page))


def problems(page: str) -> list[str]:
    """Each thing on the page a civil servant should not read, with its context."""
    text = readable_text(page)

    def around(m: re.Match[str]) -> str:
        return text[max(m.start() - 60, 0) : m.end() + 60]

    found = []
    for pattern, what in ((RUNTIME_WORDS, "runtime word"), (ISO_TIMESTAMP, "raw timestamp")):
        found += [f"{what} {m.group(0)!r} in ...{around(m)}..." for m in pattern.finditer(text)]
    found += [
        f"{m.group(0)!r} (a duration over a minute in seconds) in ...{around(m)}..."
        for m in SECONDS.finditer(text)
        if int(m.group(1)) > 60
    ]
    return found


def assert_plain(page: str, *, where: str = "the page") -> None:
    """Fail, listing every problem, when a page says something only the runtime would say."""
    found = problems(page)
    assert not found, f"{where} is not in plain words:\n" + "\n".join(found)
