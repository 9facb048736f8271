"""`denctl api-resources` and `denctl explain`: the resources and their documents' fields,
described from a table here (the API's OpenAPI document describes the wire format)."""

from __future__ import annotations

from dataclasses import dataclass

from cli.parsing import UsageError


@dataclass(frozen=True)
class Resource:
    name: str
    shortnames: tuple[str, ...]
    kind: str
    verbs: tuple[str, ...]


RESOURCES = (
    Resource(
        "challenges",
        ("ch", "challenge"),
        "Challenge",
        ("get", "describe", "apply", "create", "publish", "close"),
    ),
    Resource("suppliers", ("supplier",), "Supplier", ("get", "apply")),
    Resource("notifications", ("notification",), "Notification", ("get",)),
    Resource(
        "templates",
        ("tmpl", "template"),
        "SandboxTemplate",
        ("get", "describe", "apply", "approve", "reject"),
    ),
    Resource(
        "trials",
        ("tr", "trial"),
        "Trial",
        (
            "get",
            "describe",
            "apply",
            "create",
            "delete",
            "extend",
            "approve",
            "reject",
            "open",
            "wait",
            "logs",
            "events",
        ),
    ),
)

#: dotted path -> (type, description). The top entry of a resource describes the resource.
FIELDS: dict[str, tuple[str, str]] = {
    "trials": (
        "Trial",
        "A time-limited sandbox of one template version, asked for by a civil servant to learn "
        "whether it helps. Apply a file with metadata.name to find the same trial again.",
    ),
    "trials.apiVersion": ("string", "innovation-den.io/v1"),
    "trials.kind": ("string", "Trial"),
    "trials.metadata": ("object", "What names the trial."),
    "trials.metadata.name": (
        "string",
        "Your own name for the trial, unique among your trials: a DNS label (up to 63 "
        "lowercase letters, digits and hyphens). `apply` finds the trial by it; `create` needs none.",
    ),
    "trials.metadata.id": ("string", "The trial's id, given by the server (read only)."),
    "trials.spec": ("object", "What is asked for. It cannot change once the trial exists."),
    "trials.spec.template": (
        "string",
        "The template: `name` (its newest published version) or `name@version`. Required.",
    ),
    "trials.spec.title": ("string", "A short title people recognise (up to 200 characters). Required."),
    "trials.spec.hypothesis": ("string", "What you expect to learn. Required."),
    "trials.spec.problemStatement": ("string", "The problem the trial looks into."),
    "trials.spec.successCriteria": (
        "[]string",
        "How you will know it worked (up to 20); the template's own criteria when left out.",
    ),
    "trials.spec.duration": (
        "duration",
        "How long the sandbox runs, with a unit: 30m, 1h30m, 2d (the template's default when "
        "left out). Past the self-service limit the request waits for an approver; more time "
        "later: `denctl extend`.",
    ),
    "trials.spec.parameters": ("object", "Values for the template's parameters (see describe tmpl)."),
    "trials.spec.sharedWithDepartment": (
        "boolean",
        "Let civil servants of your department see the trial and evaluate it.",
    ),
    "trials.status": ("object", "What the server observes (printed by get, ignored by apply)."),
    "trials.status.phase": (
        "string",
        "PendingApproval, Requested, Provisioning, Ready, Sleeping, Stopping, Stopped or Failed.",
    ),
    "trials.status.reason": ("string", "Why the trial is in its phase (a CamelCase token)."),
    "trials.status.message": ("string", "The reason, in words."),
    "trials.status.expiresAt": ("time", "When the sandbox is torn down."),
    "trials.status.endpoints": ("object", "Component -> the address of its sandbox."),
    "templates": (
        "SandboxTemplate",
        "A supplier's sandbox, as immutable versions; a version runs once a platform "
        "engineer has published it. Its manifest is documented in docs/templates.md.",
    ),
    "templates.metadata.name": ("string", "The template's name."),
    "templates.metadata.version": ("string", "The version (semantic versioning), immutable once applied."),
    "templates.spec": ("object", "Components, limits, parameters and data classification."),
    "challenges": (
        "Challenge",
        "A problem a civil servant writes early, before any scheme is designed, for suppliers "
        "to respond to: Draft (its owner's alone), Published, Closed (from its closing date, "
        "or closed early) and Decided. Apply a file with metadata.name to find the same "
        "challenge again; a draft changes, a published challenge stays as suppliers read it.",
    ),
    "challenges.apiVersion": ("string", "innovation-den.io/v1"),
    "challenges.kind": ("string", "Challenge"),
    "challenges.metadata": ("object", "What names the challenge."),
    "challenges.metadata.name": (
        "string",
        "Your own name for the challenge, unique among yours: a DNS label (up to 63 lowercase "
        "letters, digits and hyphens). `apply` finds the challenge by it; `create` needs none.",
    ),
    "challenges.metadata.id": ("string", "The challenge's id, given by the server (read only)."),
    "challenges.spec": ("object", "What the challenge says. It changes only while it is a draft."),
    "challenges.spec.title": (
        "string",
        "A short title suppliers recognise (up to 200 characters). Required.",
    ),
    "challenges.spec.problem": (
        "string",
        "The problem and who has it, not a solution (up to 5000 characters). Required.",
    ),
    "challenges.spec.usersAndNeed": ("string", "The users and what they need."),
    "challenges.spec.tried": ("string", "What has been tried already."),
    "challenges.spec.constraints": ("string", "What any answer must respect."),
    "challenges.spec.budget": ("object", "The budget in whole pounds: {min: 20000, max: 80000}."),
    "challenges.spec.budget.min": ("integer", "The least, in whole pounds."),
    "challenges.spec.budget.max": ("integer", "The most, in whole pounds."),
    "challenges.spec.timeline": ("string", "When things should happen."),
    "challenges.spec.problemAreas": ("[]string", "Problem areas suppliers look for (up to 20)."),
    "challenges.spec.closesAt": (
        "time",
        "When responses close, with its time zone: 2027-01-15T17:00:00Z. Required.",
    ),
    "challenges.spec.questionsCloseAt": (
        "time",
        "The last time for suppliers' questions, on or before closesAt (closesAt when left out).",
    ),
    "challenges.spec.publish": (
        "boolean",
        "Publish it: every supplier sees it from then on (a draft is published once; a "
        "published challenge is never a draft again). Or `denctl publish ch ID`.",
    ),
    "challenges.status": ("object", "What the server observes (printed by get, ignored by apply)."),
    "challenges.status.stage": ("string", "Draft, Published, Closed or Decided."),
    "challenges.status.questionsOpen": ("boolean", "Whether suppliers may still ask questions."),
    "challenges.status.decision": ("string", "What was decided, and why, once Decided."),
    "suppliers": ("Supplier", "A company offering templates."),
    "suppliers.slug": ("string", "The supplier's short name (its handle)."),
    "suppliers.name": ("string", "The supplier's name as people write it."),
    "suppliers.size": ("string", "sme or large."),
    "notifications": (
        "Notification",
        "One delivery of an event by email or webhook, with its attempts (platform engineers).",
    ),
    "notifications.event": ("string", "trial.ready, trial.expiring, approval.waiting, ..."),
    "notifications.channel": ("string", "email or webhook."),
    "notifications.target": ("string", "The email address, or the webhook's URL."),
    "notifications.state": ("string", "pending, delivered, or failed (given up after the last attempt)."),
    "notifications.attempts": ("integer", "Attempts made so far."),
    "notifications.last_error": ("string", "Why the latest attempt failed."),
}


def alias_map() -> dict[str, str]:
    return {n: r.name for r in RESOURCES for n in (r.name, *r.shortnames)}


def rows() -> list[list[str]]:
    return [[r.name, ",".join(r.shortnames), r.kind, ",".join(r.verbs)] for r in RESOURCES]


def explain(path: str) -> str:
    """`trials` or `tr.spec.duration` -> the field's description and the fields below it."""
    head, _, rest = path.partition(".")
    resource = alias_map().get(head)
    if resource is None:
        raise UsageError(f"unknown resource {head!r}; see `denctl api-resources`")
    key = resource + ("." + rest if rest else "")
    if key not in FIELDS:
        below = [k for k in FIELDS if k.startswith(key + ".")]
        if not below:
            raise UsageError(f"{resource} has no field {rest!r}; see `denctl explain {resource}`")
    type_, description = FIELDS.get(key, ("object", ""))
    kind = next(r.kind for r in RESOURCES if r.name == resource)
    lines = [f"KIND:     {kind}", "VERSION:  innovation-den.io/v1", ""]
    if rest:
        lines += [f"FIELD:    {rest.rsplit('.', 1)[-1]} <{type_}>", ""]
    lines += ["DESCRIPTION:", f"  {description}" if description else "  -", ""]
    children = [k for k in FIELDS if k.startswith(key + ".") and "." not in k[len(key) + 1 :]]
    if children:
        lines.append("FIELDS:")
        lines += [f"  {k[len(key) + 1 :]}\t<{FIELDS[k][0]}>\n    {FIELDS[k][1]}" for k in children]
    return "\n".join(lines).rstrip() + "\n"
