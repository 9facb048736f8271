"""The product's rules on durations, caps, self-service and extensions: pure, no I/O, no clock.

Two kinds of limit. **Caps** are hard: a request over one is refused (`QuotaExceeded`,
`MaxDurationExceeded`, ...). **Self-service limits** are soft: a trial whose whole duration
(extensions included) is over the self-service limit may still happen, once an approver agrees.
Every cap exists globally (a `DEN_*` setting) and per template (`DEN_TEMPLATE_CAPS`); a
template's cap counts only that template's trials, and the tighter of the two applies.
Refusals carry a stable `Rule` token, so clients can tell which rule said no.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from orchestrator.errors import Conflict, Problem, RuleViolation
from orchestrator.lifecycle import Phase
from orchestrator.manifest import TemplateManifest, parse_cpu, parse_memory
from orchestrator.models import Trial
from orchestrator.settings import Settings, TemplateCaps


class Rule(StrEnum):
    """Why a request was refused. CamelCase, stable: never rename a token."""

    QUOTA_EXCEEDED = "QuotaExceeded"
    MAX_DURATION_EXCEEDED = "MaxDurationExceeded"
    MAX_EXTENSIONS_REACHED = "MaxExtensionsReached"
    EXTENSION_PENDING = "ExtensionPending"
    NOT_RUNNING = "NotRunning"


EXTENDABLE_PHASES = frozenset({Phase.PROVISIONING, Phase.READY})


@dataclass(frozen=True)
class Usage:
    """What the trials not yet stopped hold in one scope (all trials, or one template's)."""

    trials: int = 0
    of_user: int = 0
    of_department: int = 0
    cpu_millicores: int = 0
    memory_mib: int = 0


@dataclass(frozen=True)
class Reservation:
    """What one trial reserves: the sum of its components' limits."""

    cpu_millicores: int
    memory_mib: int


def reservation(manifest: TemplateManifest) -> Reservation:
    components = manifest.spec.components
    return Reservation(
        cpu_millicores=sum(parse_cpu(c.resources.cpu) for c in components),
        memory_mib=sum(parse_memory(c.resources.memory) for c in components) // 2**20,
    )


def global_caps(settings: Settings) -> TemplateCaps:
    return TemplateCaps(
        max_active_trials=settings.max_active_trials,
        max_active_trials_per_user=settings.max_active_trials_per_user,
        max_active_trials_per_department=settings.max_active_trials_per_department,
        max_duration=settings.max_trial_duration,
        self_service_max_duration=settings.self_service_max_duration,
        max_total_cpu=settings.max_total_cpu,
        max_total_memory_mib=settings.max_total_memory_mib,
    )


def caps_for(settings: Settings, template: str) -> TemplateCaps:
    return settings.template_caps.get(template, TemplateCaps())


def _tightest(*values: int | None) -> int:
    return min(v for v in values if v is not None)


def longest_duration(manifest: TemplateManifest, settings: Settings) -> int:
    """The longest a whole trial of this template may last, extensions included."""
    return _tightest(
        manifest.spec.limits.max_duration,
        settings.max_trial_duration,
        caps_for(settings, manifest.metadata.name).max_duration,
    )


def self_service_limit(settings: Settings, template: str) -> int:
    return _tightest(
        settings.self_service_max_duration, caps_for(settings, template).self_service_max_duration
    )


def needs_approval(total_seconds: int, *, settings: Settings, template: str) -> bool:
    return total_seconds > self_service_limit(settings, template)


def duration_problems(duration: int, manifest: TemplateManifest, settings: Settings) -> list[Problem]:
    longest = longest_duration(manifest, settings)
    if duration < settings.min_trial_duration:
        return [
            Problem(
                "duration_seconds",
                f"{duration} s is shorter than the minimum",
                f"ask for at least {settings.min_trial_duration} seconds",
            )
        ]
    if duration > longest:
        return [
            Problem(
                "duration_seconds",
                f"{duration} s is longer than this template allows",
                f"ask for at most {longest} seconds",
            )
        ]
    return []


@dataclass(frozen=True)
class CapCheck:
    """One scope's usage against its caps, for a request that would add `ask`."""

    scope: str  # "the den" or "template NAME", for messages
    usage: Usage
    caps: TemplateCaps
    ask: Reservation
    has_department: bool


def check_caps(check: CapCheck) -> None:
    """Raise `RuleViolation(QuotaExceeded)` naming the first cap the request would break."""
    over = _over(check)
    if over:
        raise RuleViolation(
            f"{over[0]} in {check.scope}; end a trial first or ask a platform engineer",
            reason=Rule.QUOTA_EXCEEDED,
        )


def _over(check: CapCheck) -> list[str]:
    usage, caps, ask = check.usage, check.caps, check.ask
    counted = [
        (usage.trials, caps.max_active_trials, "trials are active"),
        (usage.of_user, caps.max_active_trials_per_user, "of your trials are active"),
        (
            usage.of_department if check.has_department else None,
            caps.max_active_trials_per_department,
            "of your department's trials are active",
        ),
    ]
    found = [
        f"{held} {what} (the cap is {cap})"
        for held, cap, what in counted
        if held is not None and cap is not None and held >= cap
    ]
    if (
        caps.max_total_cpu is not None
        and usage.cpu_millicores + ask.cpu_millicores > caps.max_total_cpu * 1000
    ):
        found.append(f"the CPU reserved would pass the cap of {caps.max_total_cpu} cores")
    if (
        caps.max_total_memory_mib is not None
        and usage.memory_mib + ask.memory_mib > caps.max_total_memory_mib
    ):
        found.append(f"the memory reserved would pass the cap of {caps.max_total_memory_mib} MiB")
    return found


def check_extension(trial: Trial, *, seconds: int, manifest: TemplateManifest, settings: Settings) -> None:
    """Raise the refusal that names the rule, or return when the extension may go ahead
    (by itself or, past the self-service limit, once approved)."""
    if trial.phase not in EXTENDABLE_PHASES or trial.end_requested_at is not None:
        raise Conflict(
            f"only a Provisioning or Ready trial can be extended; this one is "
            f"{trial.phase}{' and ending' if trial.end_requested_at else ''}",
            reason=Rule.NOT_RUNNING,
        )
    if trial.extension_requested_seconds is not None:
        raise Conflict(
            "an extension of this trial is already waiting for an approver", reason=Rule.EXTENSION_PENDING
        )
    allowed = manifest.spec.limits.max_extensions
    if trial.extension_count >= allowed:
        raise Conflict(
            f"the template allows {allowed} extension{'s' if allowed != 1 else ''} "
            f"(maxExtensions) and this trial has had {trial.extension_count}",
            reason=Rule.MAX_EXTENSIONS_REACHED,
        )
    longest = longest_duration(manifest, settings)
    if trial.duration_seconds + seconds > longest:
        raise RuleViolation(
            f"a trial of {manifest.metadata.name} may last {longest} s in all, extensions "
            f"included (maxDuration); it has {trial.duration_seconds} s, so it can be extended "
            f"by at most {max(longest - trial.duration_seconds, 0)} s",
            reason=Rule.MAX_DURATION_EXCEEDED,
        )
