"""The product's rules on durations, caps, self-service and extensions: pure, no I/O, no clock.

Two kinds of limit. **Caps** are hard: a request over one is refused (`QuotaExceeded`,
`MaxDurationExceeded`, ...). **Self-service limits** are soft: a trial whose whole duration
(extensions included) is over the self-service limit may still happen, once an approver agrees.
Every cap exists globally (a `DEN_*` setting) and per template (`DEN_TEMPLATE_CAPS`); a
template's cap counts only that template's trials, and the tighter of the two applies.
Refusals carry a stable `Rule` token, so clients can tell which rule said no.

Each rule is written here once; `crud` enforces it on every write, and the pages ask the same
function whether to offer an action (an extension, ending, a decision, an evaluation), so a
button is shown exactly when the write behind it would pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from orchestrator.errors import Conflict, DenError, NotFound, Problem, RuleViolation
from orchestrator.lifecycle import ACTIVE_PHASES, Phase, Reason
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


#: Phases whose trial is running (or starting): what an extension applies to.
EXTENDABLE_PHASES = frozenset({Phase.PROVISIONING, Phase.READY, Phase.SLEEPING})
#: Phases in which a trial has a sandbox (or its remains) to read logs from.
SANDBOX_PHASES = frozenset({Phase.PROVISIONING, Phase.READY, Phase.SLEEPING, Phase.STOPPING, Phase.FAILED})


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


def duration_bounds(manifest: TemplateManifest, settings: Settings) -> tuple[int, int]:
    """The shortest and the longest a trial of this template may be asked for, in seconds."""
    return settings.min_trial_duration, longest_duration(manifest, settings)


def duration_problems(duration: int, manifest: TemplateManifest, settings: Settings) -> list[Problem]:
    shortest, longest = duration_bounds(manifest, settings)
    if duration < shortest:
        return [
            Problem(
                "duration_seconds",
                f"{duration} s is shorter than the minimum",
                f"ask for at least {shortest} seconds",
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
    return found + resources_over(usage, caps, ask)


def resources_over(usage: Usage, caps: TemplateCaps, ask: Reservation) -> list[str]:
    """Pure: the CPU and memory caps that `ask` more would pass. The only caps a sleeping
    sandbox waking, or a warm pool's new sandbox, is held to: neither adds a trial."""
    found: list[str] = []
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


def is_running(trial: Trial) -> bool:
    """Provisioning or Ready, and nobody asked for it to end: what an extension applies to,
    when it is asked for and again when it is approved."""
    return trial.phase in EXTENDABLE_PHASES and trial.end_requested_at is None


def extension_refusal(
    trial: Trial, *, seconds: int, manifest: TemplateManifest, settings: Settings
) -> DenError | None:
    """The refusal that names the rule, or None when extending by `seconds` may go ahead (by
    itself or, past the self-service limit, once approved)."""
    if not is_running(trial):
        return Conflict(
            f"only a Provisioning, Ready or Sleeping trial can be extended; this one is "
            f"{trial.phase}{' and ending' if trial.end_requested_at else ''}",
            reason=Rule.NOT_RUNNING,
        )
    if trial.extension_requested_seconds is not None:
        return Conflict(
            "an extension of this trial is already waiting for an approver", reason=Rule.EXTENSION_PENDING
        )
    allowed = manifest.spec.limits.max_extensions
    if trial.extension_count >= allowed:
        return Conflict(
            f"the template allows {allowed} extension{'s' if allowed != 1 else ''} "
            f"(maxExtensions) and this trial has had {trial.extension_count}",
            reason=Rule.MAX_EXTENSIONS_REACHED,
        )
    longest = longest_duration(manifest, settings)
    if trial.duration_seconds + seconds > longest:
        return RuleViolation(
            f"a trial of {manifest.metadata.name} may last {longest} s in all, extensions "
            f"included (maxDuration); it has {trial.duration_seconds} s, so it can be extended "
            f"by at most {max(longest - trial.duration_seconds, 0)} s",
            reason=Rule.MAX_DURATION_EXCEEDED,
        )
    return None


def check_extension(trial: Trial, *, seconds: int, manifest: TemplateManifest, settings: Settings) -> None:
    """Raise `extension_refusal`'s refusal, if there is one."""
    refusal = extension_refusal(trial, seconds=seconds, manifest=manifest, settings=settings)
    if refusal is not None:
        raise refusal


@dataclass(frozen=True)
class ExtensionOption:
    seconds: int
    needs_approval: bool


def extension_options(
    trial: Trial, *, choices: Iterable[int], manifest: TemplateManifest, settings: Settings
) -> list[ExtensionOption]:
    """Those of `choices` (seconds to add) that `check_extension` would let through now, each
    saying whether it must wait for an approver; empty when the trial cannot be extended."""
    return [
        ExtensionOption(
            seconds,
            needs_approval(trial.duration_seconds + seconds, settings=settings, template=trial.template_name),
        )
        for seconds in choices
        if extension_refusal(trial, seconds=seconds, manifest=manifest, settings=settings) is None
    ]


def check_endable(trial: Trial) -> None:
    """A trial can be ended (a request waiting for approval, withdrawn) while it is active;
    asking again while it ends is harmless."""
    if trial.phase not in ACTIVE_PHASES:
        raise Conflict(f"the trial is already {trial.phase}")


def may_ask_to_end(trial: Trial) -> bool:
    """Asking for the end would change something: the trial is active and not yet ending."""
    return trial.phase in ACTIVE_PHASES and trial.end_requested_at is None


def check_evaluable(trial: Trial) -> None:
    """A trial that never started (still waiting for approval, or rejected) has nothing to
    evaluate."""
    if trial.phase == Phase.PENDING_APPROVAL or trial.reason == Reason.REJECTED:
        raise Conflict("a trial that never started has nothing to evaluate", reason="NotEvaluable")


def check_logs(trial: Trial, *, component: str, manifest: TemplateManifest) -> None:
    """A component's logs exist for a component of the trial's template, while the trial has
    a sandbox (or what remains of a failed one)."""
    names = [c.name for c in manifest.spec.components]
    if component not in names:
        raise NotFound(f"trial {trial.id} has no component {component!r}; it has {', '.join(names)}")
    if trial.phase not in SANDBOX_PHASES:
        raise Conflict(f"the trial is {trial.phase}: it has no sandbox to read logs from", reason="NoSandbox")


# --- decisions beyond self-service ------------------------------------------------------


def settled(trial: Trial) -> str | None:
    """How a request in PendingApproval was settled ("approved", "rejected" or "withdrawn"),
    or None while it waits for an approver."""
    if trial.approved_at is not None:
        return "approved"
    if trial.rejected_at is not None:
        return "rejected"
    if trial.end_requested_at is not None:
        return "withdrawn"
    return None


@dataclass(frozen=True)
class Waiting:
    """What on a trial waits for an approver, and who asked for it."""

    subject: str  # "trial" (a request past self-service) or "extension"
    seconds: int  # the trial's whole duration, or the extension's
    requested_by: str


def waiting_decision(trial: Trial, *, owner: str) -> Waiting | None:
    """What an approver may decide on this trial (`owner`: the owner's name), if anything.
    `crud.pending_decisions` is its query form."""
    if trial.extension_requested_seconds is not None:
        return Waiting("extension", trial.extension_requested_seconds, trial.extension_requested_by)
    if trial.phase == Phase.PENDING_APPROVAL and settled(trial) is None:
        return Waiting("trial", trial.duration_seconds, owner)
    return None
