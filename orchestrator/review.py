"""Reviewing a template version before anyone can trial it: pure, no I/O, no clock.

A version a supplier sends is compared with the template's last published version (`changes`:
images, egress, resources and limits, parameters), and `review_reasons` says why a platform
engineer must look at it. With no reason left (the operator allows the images' prefixes with
`DEN_ALLOWED_IMAGE_PREFIXES`, the version declares no egress and asks for no more than the
last published version did) it may be published at once. Publishing pins each component's
image to the runtime's immutable reference (`with_pins`), so what was reviewed is what runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.manifest import Component, Limits, Resources, TemplateManifest, parse_cpu, parse_memory

AREAS = ("images", "egress", "resources", "parameters")


@dataclass(frozen=True)
class Change:
    """One difference from the last published version: `before` is "" for something new,
    `after` is "" for something removed."""

    area: str  # one of AREAS
    field: str  # where in the manifest, e.g. spec.components.web.image
    before: str
    after: str


def changes(previous: TemplateManifest | None, new: TemplateManifest) -> list[Change]:
    """What a reviewer must see, area by area: for a first version everything is new."""
    return [
        *_image_changes(previous, new),
        *_egress_changes(previous, new),
        *_resource_changes(previous, new),
        *_parameter_changes(previous, new),
    ]


def _differences(area: str, before: Mapping[str, str], after: Mapping[str, str]) -> list[Change]:
    return [
        Change(area, key, before.get(key, ""), after.get(key, ""))
        for key in sorted(before.keys() | after.keys())
        if before.get(key, "") != after.get(key, "")
    ]


def _images(manifest: TemplateManifest | None) -> dict[str, str]:
    components = manifest.spec.components if manifest else ()
    return {f"spec.components.{c.name}.image": c.image for c in components}


def _image_changes(previous: TemplateManifest | None, new: TemplateManifest) -> list[Change]:
    return _differences("images", _images(previous), _images(new))


def _egress(manifest: TemplateManifest | None) -> dict[str, str]:
    rules = manifest.spec.egress if manifest else ()
    return {f"spec.egress[{rule.host}]": ",".join(map(str, sorted(rule.ports))) for rule in rules}


def _egress_changes(previous: TemplateManifest | None, new: TemplateManifest) -> list[Change]:
    return _differences("egress", _egress(previous), _egress(new))


def _resources(manifest: TemplateManifest | None) -> dict[str, str]:
    if manifest is None:
        return {}
    found: dict[str, str] = {}
    for c in manifest.spec.components:
        for key in ("cpu", "memory", "pids"):
            found[f"spec.components.{c.name}.resources.{key}"] = str(getattr(c.resources, key))
    limits = manifest.spec.limits
    for key in ("cpu", "memory", "default_duration", "max_duration", "max_extensions"):
        found[f"spec.limits.{_camel(key)}"] = str(getattr(limits, key))
    return found


def _resource_changes(previous: TemplateManifest | None, new: TemplateManifest) -> list[Change]:
    return _differences("resources", _resources(previous), _resources(new))


def _parameters(manifest: TemplateManifest | None) -> dict[str, str]:
    if manifest is None:
        return {}
    schema = manifest.spec.parameters
    found = {
        f"spec.parameters.properties.{name}": _json(value)
        for name, value in schema.get("properties", {}).items()
    }
    rest = {k: v for k, v in schema.items() if k != "properties"}
    if rest:
        found["spec.parameters"] = _json(rest)
    return found


def _parameter_changes(previous: TemplateManifest | None, new: TemplateManifest) -> list[Change]:
    return _differences("parameters", _parameters(previous), _parameters(new))


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# --- may it be published at once? ---------------------------------------------------------


def review_reasons(
    previous: TemplateManifest | None, new: TemplateManifest, *, prefixes: tuple[str, ...]
) -> list[str]:
    """Why the version needs a platform engineer; empty when it changes nothing risky."""
    if not prefixes:
        return ["every new version is reviewed (DEN_ALLOWED_IMAGE_PREFIXES is empty)"]
    reasons = [
        f"image {c.image} of {c.name} is not under DEN_ALLOWED_IMAGE_PREFIXES"
        for c in new.spec.components
        if not c.image.startswith(prefixes)
    ]
    if new.spec.egress:
        reasons.append("it declares egress: " + ", ".join(e.host for e in new.spec.egress))
    reasons += _more_than(previous, new)
    return reasons


def _more_than(previous: TemplateManifest | None, new: TemplateManifest) -> list[str]:
    """Resources and limits above the last published version's (or the manifest defaults)."""
    found = []
    before = {c.name: c.resources for c in previous.spec.components} if previous else {}
    for component in new.spec.components:
        was = before.get(component.name, Resources())
        now = component.resources
        if (
            parse_cpu(now.cpu) > parse_cpu(was.cpu)
            or now.pids > was.pids
            or parse_memory(now.memory) > parse_memory(was.memory)
        ):
            found.append(
                f"component {component.name} asks for more resources than before "
                f"(cpu {was.cpu}, memory {was.memory}, pids {was.pids})"
            )
    was_limits, limits = previous.spec.limits if previous else Limits(), new.spec.limits
    if (
        parse_cpu(limits.cpu) > parse_cpu(was_limits.cpu)
        or parse_memory(limits.memory) > parse_memory(was_limits.memory)
        or limits.max_duration > was_limits.max_duration
        or limits.max_extensions > was_limits.max_extensions
    ):
        found.append("its limits are higher than before (cpu, memory, maxDuration or maxExtensions)")
    return found


# --- pinning --------------------------------------------------------------------------------


def pins(manifest: TemplateManifest, resolve: Callable[[str], str]) -> dict[str, str]:
    """Component -> the runtime's immutable reference of its image (each image resolved once);
    `resolve` raises when an image cannot be found, and then nothing is pinned."""
    resolved: dict[str, str] = {}
    for component in manifest.spec.components:
        if component.image not in resolved:
            resolved[component.image] = resolve(component.image)
    return {c.name: resolved[c.image] for c in manifest.spec.components}


def with_pins(manifest: TemplateManifest, pinned: Mapping[str, str]) -> TemplateManifest:
    """The manifest as it runs: each component's image replaced by its pinned reference."""
    if not pinned:
        return manifest
    components = [_pinned(c, pinned.get(c.name)) for c in manifest.spec.components]
    spec = manifest.spec.model_copy(update={"components": components})
    return manifest.model_copy(update={"spec": spec})


def _pinned(component: Component, reference: str | None) -> Component:
    return component.model_copy(update={"image": reference}) if reference else component
