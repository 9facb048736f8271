"""Civic Insight's open-data dashboard: synthetic air quality by borough.

Python standard library only. `GET /` renders an HTML dashboard, `GET /api/data.json` is its JSON
twin, `GET /healthz` answers 200 while the process serves. Every value put into HTML is escaped.
Links are relative so the page works behind a path-prefixing proxy.
"""

import html
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("PORT", "8080"))
TITLE = "Air quality by borough, 2024 (synthetic)"

# WHO 2021 annual guideline values, micrograms per cubic metre.
GUIDELINES = {"no2": 10.0, "pm25": 5.0}

# Synthetic annual means: made up for demonstration, not measurements of any real place.
READINGS = [
    {"borough": "Ashcombe", "no2": 31.2, "pm25": 9.8, "monitors": 6},
    {"borough": "Brookfield", "no2": 18.4, "pm25": 7.1, "monitors": 4},
    {"borough": "Castlegate", "no2": 42.7, "pm25": 12.3, "monitors": 9},
    {"borough": "Deanmoor", "no2": 12.9, "pm25": 5.6, "monitors": 3},
    {"borough": "Elmstead", "no2": 24.5, "pm25": 8.4, "monitors": 5},
    {"borough": "Fairhaven", "no2": 9.1, "pm25": 4.7, "monitors": 2},
    {"borough": "Greywell", "no2": 36.0, "pm25": 10.9, "monitors": 7},
]


def dataset() -> dict:
    """The one data set both the page and the JSON endpoint show."""
    items = [
        {**row, "no2_times_guideline": round(row["no2"] / GUIDELINES["no2"], 1)}
        for row in sorted(READINGS, key=lambda r: r["no2"], reverse=True)
    ]
    return {
        "title": TITLE,
        "classification": "synthetic",
        "units": "µg/m³ (annual mean)",
        "guidelines": GUIDELINES,
        "items": items,
    }


def render_page(data: dict) -> str:
    worst = max(row["no2"] for row in data["items"])
    rows = "".join(
        "<tr><th scope='row'>{b}</th><td>{no2}</td><td>{pm}</td><td>{m}</td>"
        "<td><span class='bar' style='width:{w}%'></span> {x}&times;</td></tr>".format(
            b=html.escape(row["borough"]),
            no2=html.escape(str(row["no2"])),
            pm=html.escape(str(row["pm25"])),
            m=html.escape(str(row["monitors"])),
            w=int(100 * row["no2"] / worst),
            x=html.escape(str(row["no2_times_guideline"])),
        )
        for row in data["items"]
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(data["title"])}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:sans-serif;margin:2rem;max-width:60rem}}
table{{border-collapse:collapse;width:100%}}th,td{{text-align:left;padding:.4rem;
border-bottom:1px solid #ccc}}.bar{{display:inline-block;height:.8rem;background:#1d70b8}}</style>
</head><body><main>
<h1>{html.escape(data["title"])}</h1>
<p>Synthetic data: no real monitoring station is described here. Values in
{html.escape(data["units"])}; the WHO guideline for NO<sub>2</sub> is
{html.escape(str(GUIDELINES["no2"]))}.</p>
<table><caption>Boroughs, highest nitrogen dioxide first</caption>
<thead><tr><th scope="col">Borough</th><th scope="col">NO<sub>2</sub></th>
<th scope="col">PM<sub>2.5</sub></th><th scope="col">Monitors</th>
<th scope="col">NO<sub>2</sub> against guideline</th></tr></thead>
<tbody>{rows}</tbody></table>
<p><a href="api/data.json">Download this data as JSON</a></p>
</main></body></html>"""


class Handler(BaseHTTPRequestHandler):
    server_version = "open-data-dashboard/1.0"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self.send("text/plain; charset=utf-8", b"ok\n")
        elif path == "/api/data.json":
            self.send("application/json", json.dumps(dataset()).encode())
        elif path == "/":
            self.send("text/html; charset=utf-8", render_page(dataset()).encode())
        else:
            self.send("text/plain; charset=utf-8", b"not found\n", status=404)

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
    print(f"open-data-dashboard listening on 0.0.0.0:{PORT}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
