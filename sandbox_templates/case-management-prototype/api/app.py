"""Casebridge's case store: a small JSON API over synthetic casework, held in memory.

Python standard library only. `GET /cases` lists cases, `GET /cases/<id>` shows one,
`POST /cases` (`{"title": "...", "category": "..."}`) opens a new one, `GET /healthz` answers 200
while the process serves. Nothing is persisted: a trial starts from the same synthetic cases.
"""

import json
import os
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("PORT", "8081"))
MAX_BODY = 4096
MAX_CASES = 500  # bounds memory: a sandbox has a hard memory cap
CATEGORIES = ("housing-repair", "noise", "benefits", "missed-bin", "planning")

# Synthetic cases: invented people-free summaries, no personal data.
CASES = [
    {
        "id": "CASE-0001",
        "title": "Damp in ground-floor flat, Block C",
        "category": "housing-repair",
        "status": "open",
        "priority": "high",
        "opened": "2024-03-04",
        "officer": "Team North",
    },
    {
        "id": "CASE-0002",
        "title": "Late-night music from commercial unit",
        "category": "noise",
        "status": "in-progress",
        "priority": "medium",
        "opened": "2024-03-06",
        "officer": "Team Central",
    },
    {
        "id": "CASE-0003",
        "title": "Housing benefit change of circumstances",
        "category": "benefits",
        "status": "open",
        "priority": "medium",
        "opened": "2024-03-07",
        "officer": "Team South",
    },
    {
        "id": "CASE-0004",
        "title": "Recycling not collected on Elm Row",
        "category": "missed-bin",
        "status": "closed",
        "priority": "low",
        "opened": "2024-03-08",
        "officer": "Team North",
    },
    {
        "id": "CASE-0005",
        "title": "Query on rear extension permission",
        "category": "planning",
        "status": "open",
        "priority": "low",
        "opened": "2024-03-11",
        "officer": "Team Central",
    },
]
LOCK = threading.Lock()


def new_case(payload: object) -> dict:
    """A case opened from a request body, or ValueError naming the field that is wrong."""
    if not isinstance(payload, dict):
        raise ValueError('send a JSON object like {"title": "...", "category": "..."}')
    title = payload.get("title")
    if not isinstance(title, str) or not 1 <= len(title.strip()) <= 200:
        raise ValueError("title: enter a title of 1 to 200 characters")
    if payload.get("category") not in CATEGORIES:
        raise ValueError(f"category: choose one of {', '.join(CATEGORIES)}")
    with LOCK:
        if len(CASES) >= MAX_CASES:
            raise ValueError(f"this sandbox holds at most {MAX_CASES} cases")
        case = {
            "id": f"CASE-{len(CASES) + 1:04d}",
            "title": title.strip(),
            "category": payload["category"],
            "status": "open",
            "priority": "medium",
            "opened": datetime.now(UTC).date().isoformat(),
            "officer": "Unassigned",
        }
        CASES.append(case)
    return case


class Handler(BaseHTTPRequestHandler):
    server_version = "case-api/1.0"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/healthz":
            self.send_json({"status": "ok"})
        elif path == "/cases":
            with LOCK:
                self.send_json({"items": list(CASES), "classification": "synthetic"})
        elif path.startswith("/cases/"):
            found = [c for c in CASES if c["id"] == path.removeprefix("/cases/")]
            self.send_json(found[0] if found else {"error": "no such case"}, 200 if found else 404)
        else:
            self.send_json({"error": "not found"}, 404)

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0].rstrip("/") != "/cases":
            self.send_json({"error": "not found"}, 404)
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.send_json({"error": f"send a body of at most {MAX_BODY} bytes"}, 413)
            return
        try:
            payload = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            payload = None
        try:
            case = new_case(payload)
        except ValueError as exc:
            self.send_json({"error": str(exc)}, 400)
            return
        self.send_json(case, 201)

    def send_json(self, data: dict, status: int = 200) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # One line per request on stdout, where container logs are collected.
        print(f"{self.address_string()} {format % args}", file=sys.stdout, flush=True)


if __name__ == "__main__":
    print(f"case api listening on 0.0.0.0:{PORT}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
