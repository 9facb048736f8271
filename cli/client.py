"""The HTTP client behind `denctl`: one place that talks to the API and turns its errors into
messages and exit codes.

Exit codes (documented in docs/cli.md): 0 success, 1 refused by the server (a rule, a conflict,
invalid input, a server error), 2 usage, 3 server unreachable, 4 not found, 5 not signed in or
not allowed (401/403). A server that answers, but not as a den does (an HTML page, text
that is not JSON, JSON without a `reason`), is named as the wrong server: exit 3, as for one
that does not answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from cli import contexts

NOT_A_DEN = "NotAnInnovationDen"
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_NOT_FOUND, EXIT_DENIED = 0, 1, 2, 3, 4, 5


class ApiError(Exception):
    def __init__(
        self, status: int, reason: str, detail: str, problems: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail
        self.problems = problems or []

    @property
    def exit_code(self) -> int:
        if self.status == 0 or self.reason == NOT_A_DEN:
            return EXIT_UNREACHABLE
        if self.status == 404:
            return EXIT_NOT_FOUND
        return EXIT_DENIED if self.status in (401, 403) else EXIT_ERROR


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


@dataclass
class Client:
    server: str
    token: str
    timeout: float = 30.0

    @classmethod
    def resolve(cls, *, server: str | None, token: str | None, context: str | None) -> Client:
        found_server, found_token = contexts.resolve(server=server, token=token, context=context)
        return cls(server=found_server, token=found_token)

    def _url(self, path: str) -> str:
        return self.server.rstrip("/") + path

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Never an empty `Bearer`: with no token, no Authorization header at all."""
        signed = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**signed, **(extra or {})}

    def call(self, method: str, path: str, **kwargs: Any) -> Answer:
        headers = self._headers(kwargs.pop("headers", None))
        try:
            answer = httpx.request(method, self._url(path), headers=headers, timeout=self.timeout, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(0, "Unreachable", unreachable(self.server, exc)) from exc
        _raise_for(answer, server=self.server)
        return Answer(answer.status_code, _json(answer, server=self.server) if answer.content else None)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.call(method, path, **kwargs).body

    def lines(self, path: str, params: dict[str, Any]) -> Iterator[str]:
        """A streamed answer, line by line, with no read timeout (watches, followed logs)."""
        timeout = httpx.Timeout(self.timeout, read=None)
        try:
            with httpx.stream(
                "GET", self._url(path), params=params, headers=self._headers(), timeout=timeout
            ) as answer:
                if answer.status_code >= 400:
                    answer.read()
                    _raise_for(answer, server=self.server)
                yield from answer.iter_lines()
        except httpx.HTTPError as exc:
            raise ApiError(0, "Unreachable", f"lost {self.server}: {exc}") from exc


def unreachable(server: str, exc: Exception) -> str:
    return (
        f"cannot reach {server} ({type(exc).__name__}: {exc or 'no answer'}): is the den running "
        "there? Check --server, DEN_SERVER or the context (denctl config get-contexts)"
    )


def not_a_den(server: str, answer: httpx.Response) -> ApiError:
    kind = answer.headers.get("content-type", "no content type").split(";")[0]
    return ApiError(
        answer.status_code,
        NOT_A_DEN,
        f"{server} answered HTTP {answer.status_code} ({kind}) to {answer.request.url.path}, not as "
        "an Innovation Den API does: is --server (or DEN_SERVER, or the context's server) the "
        "den's address?",
    )


def _json(answer: httpx.Response, *, server: str) -> Any:
    try:
        return answer.json()
    except ValueError as exc:
        raise not_a_den(server, answer) from exc


def _raise_for(answer: httpx.Response, *, server: str) -> None:
    if answer.status_code < 400:
        return
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("reason"), str):
        raise not_a_den(server, answer)
    raise ApiError(answer.status_code, body["reason"], str(body.get("detail", "")), body.get("problems"))
