"""Casebridge's case worker front end: HTML pages over the `api` component's JSON.

Python standard library only. Every page is rendered on the server from the case store at
API_URL (default `http://api:8081`: the other component, reached by its component name as host
name), so the browser never talks to the API. `GET /healthz` answers 200 only when the API does:
readiness of this component proves the two components can talk to each other.
"""

import html
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qs, quote, unquote
from urllib.request import Request, urlopen

PORT = int(os.environ.get("PORT", "8080"))
API_URL = os.environ.get("API_URL", "http://api:8081").rstrip("/")
TIMEOUT = 2.0
MAX_BODY = 4096
CATEGORIES = ("housing-repair", "noise", "benefits", "missed-bin", "planning")


class ApiError(Exception):
    """The case store did not answer, or refused the request (the message says why)."""


def call_api(path: str, payload: dict | None = None) -> dict:
    data = None if payload is None else json.dumps(payload).encode()
    request = Request(API_URL + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urlopen(request, timeout=TIMEOUT) as response:
            return json.load(response)
    except HTTPError as exc:
        raise ApiError(_api_error_message(exc)) from exc
    except (URLError, OSError, ValueError) as exc:
        raise ApiError(f"the case store at {API_URL} cannot be reached") from exc


def _api_error_message(exc: HTTPError) -> str:
    try:
        return str(json.load(exc)["error"])
    except (ValueError, KeyError, TypeError):
        return f"the case store answered {exc.code}"


def page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} - Casebridge (demo)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:sans-serif;margin:2rem;max-width:60rem}}.error{{color:#d4351c}}
table{{border-collapse:collapse;width:100%}}th,td{{text-align:left;padding:.4rem;
border-bottom:1px solid #ccc}}</style></head><body><main>
<h1>{html.escape(title)}</h1>{body}
<p><small>A demonstration with synthetic cases only.</small></p></main></body></html>"""


def case_list(cases: list[dict], error: str = "") -> str:
    rows = "".join(
        f"<tr><td><a href='cases/{quote(c['id'])}'>{html.escape(c['id'])}</a></td>"
        f"<td>{html.escape(c['title'])}</td><td>{html.escape(c['category'])}</td>"
        f"<td>{html.escape(c['status'])}</td><td>{html.escape(c['priority'])}</td></tr>"
        for c in cases
    )
    options = "".join(f"<option>{html.escape(c)}</option>" for c in CATEGORIES)
    alert = f"<p class='error' role='alert'>{html.escape(error)}</p>" if error else ""
    return page(
        "Cases",
        f"""{alert}<table><caption>{len(cases)} cases</caption>
<thead><tr><th scope="col">Case</th><th scope="col">Title</th><th scope="col">Category</th>
<th scope="col">Status</th><th scope="col">Priority</th></tr></thead><tbody>{rows}</tbody></table>
<h2>Open a case</h2><form method="post"><label for="title">Title</label><br>
<input id="title" name="title" maxlength="200" required><br>
<label for="category">Category</label><br><select id="category" name="category">{options}</select>
<br><button>Open case</button></form>""",
    )


def case_detail(case: dict) -> str:
    rows = "".join(
        f"<tr><th scope='row'>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in case.items()
    )
    back = "<p><a href='../'>All cases</a></p>"
    return page(f"Case {case.get('id', '')}", f"<table>{rows}</table>{back}")


class Handler(BaseHTTPRequestHandler):
    server_version = "case-web/1.0"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            if path == "/healthz":
                call_api("/healthz")
                self.send("text/plain; charset=utf-8", b"ok\n")
            elif path == "/":
                self.send_html(case_list(call_api("/cases")["items"]))
            elif path.startswith("/cases/"):
                case_id = quote(unquote(path.removeprefix("/cases/")), safe="")
                self.send_html(case_detail(call_api("/cases/" + case_id)))
            else:
                self.send("text/plain; charset=utf-8", b"not found\n", status=404)
        except ApiError as exc:
            body = f"<p class='error'>{html.escape(str(exc))}</p>"
            self.send_html(page("Case store unavailable", body), status=503 if path == "/healthz" else 502)

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if self.path.split("?", 1)[0] != "/" or not 0 <= length <= MAX_BODY:
            self.send("text/plain; charset=utf-8", b"not accepted\n", status=400)
            return
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        fields = {name: form.get(name, [""])[0] for name in ("title", "category")}
        try:
            call_api("/cases", fields)
        except ApiError as exc:
            self.send_html(case_list(self.cases_or_none(), error=str(exc)), status=400)
            return
        self.send_response(303)  # post/redirect/get: a reload does not open the case twice
        self.send_header("Location", "./")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def cases_or_none(self) -> list[dict]:
        try:
            return list(call_api("/cases")["items"])
        except ApiError:
            return []

    def send_html(self, text: str, status: int = 200) -> None:
        self.send("text/html; charset=utf-8", text.encode(), status=status)

    def send(self, content_type: str, body: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # One line per request on stdout, where container logs are collected.
        print(f"{self.address_string()} {format % args}", file=sys.stdout, flush=True)


if __name__ == "__main__":
    print(f"case web listening on 0.0.0.0:{PORT}, case store at {API_URL}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
