"""Northwind Digital's citizen enquiry assistant: rule-based answers from a synthetic FAQ.

Python standard library only, no machine learning: a question is split into words and the FAQ
entry sharing the most keywords wins. `GET /` shows a form, `POST /` (a form post) shows the
answer as HTML and `POST /api/ask` (`{"question": "..."}`) is its JSON twin; both call `answer()`.
The trial's parameters arrive as environment variables: GREETING (text shown on the page) and
TONE (`friendly` or `formal`, the wording of every answer).
"""

import html
import json
import os
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

PORT = int(os.environ.get("PORT", "8080"))
GREETING = os.environ.get("GREETING") or "Hello! Ask me about bins, council tax or parking."
OPENERS = {"friendly": "Good question! ", "formal": "Thank you for your enquiry. "}
TONE = os.environ["TONE"] if os.environ.get("TONE") in OPENERS else "friendly"
MAX_BODY = 4096
MAX_QUESTION = 500
FALLBACK = "I could not match that to a topic. I can help with: "

# A synthetic FAQ for the fictional Eastmoor Borough Council.
FAQ = [
    {
        "id": "bins",
        "keywords": {"bin", "bins", "rubbish", "recycling", "collection", "waste"},
        "answer": "Bins are collected weekly; recycling goes out on alternate weeks. "
        "Enter your postcode on the Eastmoor waste page to see your day.",
    },
    {
        "id": "council-tax",
        "keywords": {"council", "tax", "bill", "band", "discount"},
        "answer": "Council tax is billed in ten monthly instalments from April. "
        "A single person discount of 25% is available on request.",
    },
    {
        "id": "parking",
        "keywords": {"parking", "permit", "car", "resident", "visitor"},
        "answer": "Resident parking permits cost £60 a year and are issued within five working days. "
        "Visitor permits are sold in books of ten.",
    },
    {
        "id": "potholes",
        "keywords": {"pothole", "potholes", "road", "pavement", "report"},
        "answer": "Report a pothole with its location and a photo; dangerous defects are made safe "
        "within 24 hours, others within 28 days.",
    },
    {
        "id": "libraries",
        "keywords": {"library", "libraries", "book", "books", "opening"},
        "answer": "Libraries open 9am to 7pm on weekdays and 10am to 4pm on Saturdays. "
        "Membership is free for residents.",
    },
]


def answer(question: str) -> dict:
    """The assistant's reply: the best-matching FAQ entry, or the list of topics it knows."""
    words = set(re.findall(r"[a-z]+", question.lower()))
    scores = [(len(words & entry["keywords"]), entry) for entry in FAQ]
    score, best = max(scores, key=lambda pair: pair[0])
    opener = OPENERS[TONE]
    if score == 0:
        topics = ", ".join(entry["id"] for entry in FAQ)
        return {
            "question": question,
            "answer": FALLBACK + topics + ".",
            "matched": None,
            "score": 0,
            "tone": TONE,
        }
    return {
        "question": question,
        "answer": opener + best["answer"],
        "matched": best["id"],
        "score": score,
        "tone": TONE,
    }


def check_question(value: object) -> str:
    """The question, or ValueError saying what is wrong with it."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("Enter a question")
    if len(value) > MAX_QUESTION:
        raise ValueError(f"A question must be {MAX_QUESTION} characters or fewer")
    return value.strip()


def render_page(reply: dict | None = None, error: str = "", question: str = "") -> str:
    parts = [f"<p class='greeting'>{html.escape(GREETING)}</p>"]
    if error:
        parts.append(f"<p class='error' role='alert'><strong>{html.escape(error)}</strong></p>")
    if reply:
        parts.append(
            f"<section aria-live='polite'><h2>Answer</h2><p>{html.escape(reply['answer'])}</p></section>"
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ask Eastmoor Council (demo)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:sans-serif;margin:2rem;max-width:40rem}}.error{{color:#d4351c}}
textarea{{width:100%}}</style></head><body><main>
<h1>Ask Eastmoor Council</h1>{"".join(parts)}
<form method="post"><label for="question">Your question</label><br>
<textarea id="question" name="question" rows="3" maxlength="{MAX_QUESTION}">
{html.escape(question)}</textarea>
<br><button type="submit">Ask</button></form>
<p><small>A demonstration with synthetic answers; do not enter personal details.</small></p>
</main></body></html>"""


class Handler(BaseHTTPRequestHandler):
    server_version = "citizen-enquiry-assistant/1.0"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self.send("text/plain; charset=utf-8", b"ok\n")
        elif path == "/":
            self.send("text/html; charset=utf-8", render_page().encode())
        else:
            self.send("text/plain; charset=utf-8", b"not found\n", status=404)

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        body = self.read_body()
        if body is None:
            return
        if path == "/api/ask":
            self.ask_json(body)
        elif path == "/":
            self.ask_form(body)
        else:
            self.send("text/plain; charset=utf-8", b"not found\n", status=404)

    def read_body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.send_json({"error": f"send a body of at most {MAX_BODY} bytes"}, 413)
            return None
        return self.rfile.read(length)

    def ask_json(self, body: bytes) -> None:
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            self.send_json({"error": 'send a JSON object like {"question": "..."}'}, 400)
            return
        try:
            question = check_question(payload.get("question"))
        except ValueError as exc:
            self.send_json({"error": str(exc)}, 400)
            return
        self.send_json(answer(question))

    def ask_form(self, body: bytes) -> None:
        raw = parse_qs(body.decode("utf-8", "replace")).get("question", [""])[0]
        try:
            page = render_page(answer(check_question(raw)), question=raw)
            status = 200
        except ValueError as exc:
            page, status = render_page(error=str(exc), question=raw), 400
        self.send("text/html; charset=utf-8", page.encode(), status=status)

    def send_json(self, data: dict, status: int = 200) -> None:
        self.send("application/json", json.dumps(data).encode(), status=status)

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
    print(f"citizen-enquiry-assistant listening on 0.0.0.0:{PORT} (tone {TONE})", flush=True)
    ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
