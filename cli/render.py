"""How `denctl` prints: kubectl-style plain tables (never truncated or wrapped, so scripts can
cut columns), human durations, and `-o json|yaml|name|jsonpath=...|custom-columns=...`. Pure:
`now` is passed in. `-o json` is the API's body; `-o yaml` of trials is the document that
`denctl apply -f` takes back (cli/documents.py), and so is that of challenges
(cli/challenge_documents.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import yaml

from cli import challenge_documents, documents, parsing

OUTPUTS = ("table", "wide", "json", "yaml", "name")
#: What `-o` takes, for help and shell completion.
OUTPUT_CHOICES = (*OUTPUTS, "jsonpath=", "custom-columns=")


def human_duration(seconds: float) -> str:
    """kubectl's HumanDuration: 42s, 5m12s, 25m, 3h20m, 30h, 3d4h, 40d, 2y30d."""
    seconds = int(seconds)
    if seconds < 0:
        return "0s"
    minutes, hours = seconds // 60, seconds // 3600
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return _pair(minutes, "m", seconds % 60, "s")
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return _pair(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return _pair(hours // 24, "d", hours % 24, "h")
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        return _pair(hours // (24 * 365), "y", (hours // 24) % 365, "d")
    return f"{hours // (24 * 365)}y"


def _pair(big: int, big_unit: str, small: int, small_unit: str) -> str:
    return f"{big}{big_unit}" + (f"{small}{small_unit}" if small else "")


def parse_when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def age(when: str | None, now: datetime) -> str:
    if not when:
        return "<none>"
    return human_duration((now - parse_when(when)).total_seconds())


def until(when: str | None, now: datetime) -> str:
    if not when:
        return "<none>"
    return human_duration((parse_when(when) - now).total_seconds())


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns three spaces apart, as kubectl prints them."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = [headers, *rows]
    return (
        "\n".join(
            "   ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines
        )
        + "\n"
    )


# --- one kind of object per table ---------------------------------------------------------

Row = Callable[[dict[str, Any], datetime], list[str]]


def _trial(item: dict[str, Any], now: datetime) -> list[str]:
    ended = item["phase"] == "Stopped"
    return [
        item["id"],
        item["template"],
        item["phase"],
        item["reason"],
        age(item["created_at"], now),
        "<none>" if ended else until(item["expires_at"], now),
    ]


def _trial_wide(item: dict[str, Any], now: datetime) -> list[str]:
    pending = item.get("pending_extension_seconds")
    return [
        *_trial(item, now),
        item["owner"],
        item["department"] or "<none>",
        str(item["extension_count"]) + (f" (+{human_duration(pending)} pending)" if pending else ""),
        ", ".join(item["endpoints"].values()) or "<none>",
    ]


def _template(item: dict[str, Any], now: datetime) -> list[str]:
    return [item["name"], item["version"], item["supplier"], item["status"], age(item["published_at"], now)]


def _template_wide(item: dict[str, Any], now: datetime) -> list[str]:
    return [*_template(item, now), ", ".join(item["problem_areas"]), item["summary"]]


def _supplier(item: dict[str, Any], _now: datetime) -> list[str]:
    return [item["slug"], item["name"], item["size"].upper()]


def _supplier_wide(item: dict[str, Any], now: datetime) -> list[str]:
    return [*_supplier(item, now), ", ".join(item["templates"]) or "<none>"]


def _event(item: dict[str, Any], now: datetime) -> list[str]:
    return [age(item["at"], now), item["kind"], item["phase"], item["reason"], item["message"]]


def _notification(item: dict[str, Any], now: datetime) -> list[str]:
    return [
        str(item["id"]),
        item["event"],
        item["channel"],
        item["target"],
        item["state"],
        str(item["attempts"]),
        age(item["created_at"], now),
    ]


def _notification_wide(item: dict[str, Any], now: datetime) -> list[str]:
    return [
        *_notification(item, now),
        item["trial_id"] or "<none>",
        item["recipient"] or "<none>",
        item["last_error"] or "<none>",
    ]


def _member(item: dict[str, Any], now: datetime) -> list[str]:
    return [
        item["user"],
        item["role"],
        item["department"] or "-",
        item["added_by"],
        age(item["added_at"], now),
    ]


def _challenge(item: dict[str, Any], now: datetime) -> list[str]:
    return [
        item["id"],
        item["name"] or "<none>",
        item["stage"],
        item["title"],
        _closes_in(item["closes_at"], now),
        item["owner"],
        age(item["created_at"], now),
    ]


def _challenge_wide(item: dict[str, Any], now: datetime) -> list[str]:
    offer = item.get("offer")
    return [
        *_challenge(item, now),
        item["department"] or "<none>",
        _closes_in(item["questions_close_at"], now),
        age(offer["offered_at"], now) + " ago" if offer else "<none>",
    ]


def _closes_in(when: str, now: datetime) -> str:
    """Time left before a closing date, or `<none>` once it has passed."""
    return until(when, now) if parse_when(when) > now else "<none>"


#: kind -> (headers, row, wide headers, wide row, the key that names an object)
KINDS: dict[str, tuple[list[str], Row, list[str], Row, str]] = {
    "trials": (
        ["NAME", "TEMPLATE", "PHASE", "REASON", "AGE", "EXPIRES IN"],
        _trial,
        ["OWNER", "DEPARTMENT", "EXTENSIONS", "ENDPOINTS"],
        _trial_wide,
        "id",
    ),
    "templates": (
        ["NAME", "VERSION", "SUPPLIER", "STATUS", "AGE"],
        _template,
        ["PROBLEM AREAS", "SUMMARY"],
        _template_wide,
        "name",
    ),
    "suppliers": (["NAME", "DISPLAY NAME", "SIZE"], _supplier, ["TEMPLATES"], _supplier_wide, "slug"),
    "events": (["AGE", "KIND", "PHASE", "REASON", "MESSAGE"], _event, [], _event, "at"),
    "notifications": (
        ["ID", "EVENT", "CHANNEL", "TARGET", "STATE", "ATTEMPTS", "AGE"],
        _notification,
        ["TRIAL", "RECIPIENT", "LAST ERROR"],
        _notification_wide,
        "id",
    ),
    "members": (["NAME", "ROLE", "DEPARTMENT", "ADDED BY", "AGE"], _member, [], _member, "user"),
    "challenges": (
        ["ID", "NAME", "STAGE", "TITLE", "CLOSES IN", "OWNER", "AGE"],
        _challenge,
        ["DEPARTMENT", "QUESTIONS CLOSE IN", "OFFERED"],
        _challenge_wide,
        "id",
    ),
}


def rows(kind: str, items: Sequence[dict[str, Any]], *, wide: bool, now: datetime) -> list[list[str]]:
    _headers, row, _wide_headers, wide_row, _key = KINDS[kind]
    return [(wide_row if wide else row)(item, now) for item in items]


def headers(kind: str, *, wide: bool) -> list[str]:
    base, _row, extra, _wide_row, _key = KINDS[kind]
    return base + extra if wide else base


def render(
    kind: str, items: Sequence[dict[str, Any]], output: str, *, now: datetime, single: bool = False
) -> str:
    """The text for `-o output`. `single` (a named `get`) prints the object, not a list."""
    if output in ("json", "yaml"):
        if output == "yaml" and kind in _DOCUMENTS:
            return yaml.safe_dump(_documents(kind, items, single=single), sort_keys=False)
        document: Any = items[0] if single and items else {"items": list(items)}
        return (
            json.dumps(document, indent=2) + "\n"
            if output == "json"
            else yaml.safe_dump(document, sort_keys=False)
        )
    if output == "name":
        key = KINDS[kind][4]
        return "".join(f"{kind}/{item[key]}\n" for item in items)
    wide = output == "wide"
    return table(headers(kind, wide=wide), rows(kind, items, wide=wide, now=now))


#: kinds whose `-o yaml` is the document `apply -f` takes back
_DOCUMENTS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "trials": documents.trial_document,
    "challenges": challenge_documents.challenge_document,
}


def _documents(kind: str, items: Sequence[dict[str, Any]], *, single: bool) -> Any:
    found = [_DOCUMENTS[kind](item) for item in items]
    if single and found:
        return found[0]
    return {"apiVersion": "v1", "kind": "List", "items": found}


def shaped(
    kind: str,
    items: Sequence[dict[str, Any]],
    output: tuple[str, str],
    *,
    now: datetime,
    single: bool = False,
) -> str:
    """`render`, and kubectl's `-o jsonpath=TEMPLATE` (over what `-o json` prints) and
    `-o custom-columns=HEADER:.field,...` (one row per object)."""
    name, argument = output
    if name == "jsonpath":
        document: Any = items[0] if single and items else {"items": list(items)}
        text = parsing.jsonpath_text(document, argument)
        return text if text.endswith("\n") else text + "\n"
    if name == "custom-columns":
        columns = parsing.custom_columns(argument)
        return table([h for h, _ in columns], [parsing.column_cells(i, columns) for i in items])
    return render(kind, items, name, now=now, single=single)


#: Column widths while watching, where rows come one at a time: wide enough for most values,
#: so that rows line up under the header (a longer value pushes its row along).
WATCH_WIDTHS = {
    "NAME": 14,
    "TEMPLATE": 32,
    "PHASE": 16,
    "REASON": 20,
    "AGE": 8,
    "EXPIRES IN": 11,
    "OWNER": 14,
    "DEPARTMENT": 12,
    "EXTENSIONS": 11,
}


def _padded(cells: Sequence[str], names: Sequence[str]) -> str:
    return (
        "   ".join(
            cell.ljust(WATCH_WIDTHS.get(name, 0)) for cell, name in zip(cells, names, strict=True)
        ).rstrip()
        + "\n"
    )


def watch_header(kind: str, output: str) -> str:
    if output not in ("table", "wide"):
        return ""
    names = headers(kind, wide=output == "wide")
    return _padded(names, names)


def watch_line(kind: str, item: dict[str, Any], output: str, *, now: datetime) -> str:
    """One changed object during `--watch`: a table row, a JSON line, a YAML document."""
    if output == "json":
        return json.dumps(item) + "\n"
    if output == "yaml":
        shown = documents.trial_document(item) if kind == "trials" else item
        return "---\n" + yaml.safe_dump(shown, sort_keys=False)
    if output == "name":
        return f"{kind}/{item[KINDS[kind][4]]}\n"
    wide = output == "wide"
    return _padded(rows(kind, [item], wide=wide, now=now)[0], headers(kind, wide=wide))
