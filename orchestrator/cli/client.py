"""The HTTP client behind `denctl`: one place that talks to the API and turns its errors into
messages and exit codes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import httpx

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_UNREACHABLE = 0, 1, 2, 4, 3


class ApiError(Exception):
    def __init__(self, status: int, reason: str, detail: str,
                 problems: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail
        self.problems = problems or []

    @property
    def exit_code(self) -> int:
        return EXIT_NOT_FOUND if self.status == 404 else EXIT_ERROR


@dataclass
class Client:
    server: str
    token: str
    timeout: float = 30.0

    @classmethod
    def from_env(cls, server: str | None, token: str | None) -> Client:
        return cls(server=(server or os.environ.get("DEN_SERVER") or "http://127.0.0.1:8000"),
                   token=token or os.environ.get("DEN_TOKEN", ""))

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        try:
            answer = httpx.request(method, self.server.rstrip("/") + path, headers=headers,
                                   timeout=self.timeout, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(0, "Unreachable", f"cannot reach {self.server}: {exc}") from exc
        if answer.status_code >= 400:
            try:
                body = answer.json()
            except ValueError:
                body = {"reason": "HTTPError", "detail": answer.text[:300]}
            raise ApiError(answer.status_code, body.get("reason", "HTTPError"),
                           body.get("detail", ""), body.get("problems"))
        return answer.json() if answer.content else None
