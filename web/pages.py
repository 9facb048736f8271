"""`page`: a GET route that answers HTML at its path and the same data as JSON at `path.json`
(its twin, STYLE.md convention 8): one endpoint, so both come from the same core call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def twin_path(path: str) -> str:
    return "/index.json" if path == "/" else path + ".json"


def page(router: APIRouter, path: str) -> Callable[[Endpoint], Endpoint]:
    def register(endpoint: Endpoint) -> Endpoint:
        # The twin first, so that a path parameter never swallows its `.json`.
        router.add_api_route(twin_path(path), endpoint, methods=["GET"], name=f"{endpoint.__name__}_json")
        router.add_api_route(path, endpoint, methods=["GET"], name=endpoint.__name__)
        return endpoint

    return register


def local_path(value: str, default: str = "/") -> str:
    """Only a path on this service (never `//host` nor a scheme): no open redirects."""
    if (
        value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and "\n" not in value
        and "\r" not in value
    ):
        return value
    return default
