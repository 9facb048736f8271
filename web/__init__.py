"""The web pages: GOV.UK Design System pages over the same core functions as the REST API.

Server-rendered with Jinja2 and the `govuk-frontend-jinja` macros; the `govuk-frontend` assets
come from npm, are copied into this package at build time (its `govuk_frontend/` folder, which
the wheel carries) and are served by it (assets.py). Pages work
without JavaScript; web/static/den.mjs only enhances them (live progress, the countdown).

- `deps.py`: the database session, the clock, and the visitor (a server-side session cookie,
  or an API token for the JSON twins); `forms.py`: CSRF-checked form data and the problems
  that a GOV.UK error summary lists.
- `rendering.py`: the Jinja2 environment and `render`, which answers HTML or, on the page's
  `.json` twin, the same data as JSON: both come from one call of the core.
- `errors.py`: how an error is shown on a page. api/errors.py still decides the status code
  and hands the error over (`pages`), so HTTP status codes stay in one place.
- `routes/`: one module per journey; each handler calls the `orchestrator.crud` function its
  REST twin calls, so roles and rights are `orchestrator/access.py`'s, as for the API.

`api/main.py` is the one place that wires the pages in (`router`, `mount_assets`).
"""

from web.assets import mount_assets
from web.errors import render_error
from web.routes import router

__all__ = ["mount_assets", "render_error", "router"]
