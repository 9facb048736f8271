"""Request and response bodies of the REST API (the wire contract of PRODUCT.md 7.1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrialCreate(_Strict):
    template: str = Field(min_length=1, max_length=110, pattern=r"^[a-z0-9-]+(@[0-9A-Za-z.+-]+)?$",
                          description="`name` (newest version) or `name@version`.")
    title: str = Field(min_length=1, max_length=200)
    hypothesis: str = Field(min_length=1, max_length=5000)
    problem_statement: str = Field("", max_length=5000)
    success_criteria: list[str] = Field(default_factory=list, max_length=20)
    duration_seconds: int | None = Field(None, ge=1, le=10**8)
    parameters: dict[str, Any] = Field(default_factory=dict, max_length=50)


class TrialPublic(BaseModel):
    id: str
    phase: str
    reason: str
    message: str
    template: str
    owner: str
    department: str
    title: str
    problem_statement: str
    hypothesis: str
    success_criteria: list[str]
    parameters: dict[str, Any]
    duration_seconds: int
    extension_count: int
    created_at: datetime
    ready_at: datetime | None
    expires_at: datetime | None
    ended_at: datetime | None
    end_requested_at: datetime | None
    time_left_seconds: int | None
    endpoints: dict[str, str]


class TrialList(BaseModel):
    items: list[TrialPublic]


class TrialEventPublic(BaseModel):
    at: datetime
    kind: str
    phase: str
    reason: str
    message: str


class TrialEventList(BaseModel):
    items: list[TrialEventPublic]


class TemplatePublic(BaseModel):
    name: str
    version: str
    supplier: str
    supplier_name: str
    summary: str
    description: str
    problem_areas: list[str]
    tags: list[str]
    status: str
    digest: str
    data_classification: str
    limits: dict[str, Any]
    components: list[str]
    parameters: dict[str, Any]
    success_criteria: list[str]
    published_at: datetime


class TemplateList(BaseModel):
    items: list[TemplatePublic]


class SupplierPublic(BaseModel):
    slug: str
    name: str
    size: str
    contact: str
    description: str
    problem_areas: list[str]
    templates: list[str]


class SupplierList(BaseModel):
    items: list[SupplierPublic]


class ErrorBody(BaseModel):
    reason: str
    detail: str
    problems: list[dict[str, str]] | None = None
