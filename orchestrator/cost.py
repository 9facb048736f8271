"""What a trial uses and what it costs: pure arithmetic, no I/O and no clock (`now` is passed).

The runtime reports each sandbox's CPU time since its containers (pods) started, and the memory
they hold now (`drivers.base.Usage`). The usage sampler beside the reconciler reads it every
`DEN_USAGE_SAMPLE_INTERVAL` seconds while a trial runs, and once more before it sleeps or is
removed; `accumulate` turns those readings into the trial's totals:

- `cpu_seconds` adds up each increase of the runtime's counter. A counter that falls back
  (containers started again: a wake, a restart) starts from zero, so its whole reading is new;
  a sleep also sets the last reading back to zero, as the woken containers count from zero.
- `peak_memory_bytes` is the highest working set read.
- `running_seconds` adds up the time between readings while the sandbox is awake (counted from
  Ready; a sleeping sandbox uses nothing and is not read).

The cost (`cost`) is CPU time used at the rate card's `cpu_hour`, plus the memory the sandbox
*reserves* (its template's limits, `Trial.memory_mib`) for the time it runs, at `gib_hour`.
Memory is charged as reserved, not as measured, because the reservation is what the operator
must provision (and what the caps count) whether or not the sandbox fills it; CPU is charged as
used because an idle core is shared. The forecast (`forecast`) charges both as reserved for the
whole requested duration: the most the trial can cost, unless it is extended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orchestrator.settings import RateCard

SECONDS_PER_HOUR = 3600.0
MIB_PER_GIB = 1024.0
#: Decimal places a cost is given to: a ten-thousandth of a penny, so that a short trial's
#: cost is not rounded away.
COST_DIGITS = 6


@dataclass(frozen=True)
class Totals:
    """A trial's resource use so far, as stored on its row."""

    cpu_seconds: float = 0.0
    peak_memory_bytes: int = 0
    running_seconds: float = 0.0
    #: The runtime's cumulative CPU counter at the last reading (0 before the first, and after
    #: a sleep), from which the next increase is measured.
    last_counter: float = 0.0
    #: When the sandbox was last read (None while it is not running).
    sampled_at: datetime | None = None


def accumulate(
    totals: Totals, *, cpu_seconds: float, memory_bytes: int, now: datetime, running: bool = True
) -> Totals:
    """The totals after one more reading at `now` (the runtime's cumulative CPU seconds and the
    working set now, `drivers.base.Usage`). `running=False` is the last reading before a sleep
    or a removal: the time up to it counts, and the next reading starts afresh."""
    counter = max(0.0, cpu_seconds)
    gained = counter - totals.last_counter if counter >= totals.last_counter else counter
    elapsed = (now - totals.sampled_at).total_seconds() if totals.sampled_at is not None else 0.0
    return Totals(
        cpu_seconds=totals.cpu_seconds + gained,
        peak_memory_bytes=max(totals.peak_memory_bytes, memory_bytes),
        running_seconds=totals.running_seconds + max(0.0, elapsed),
        last_counter=counter if running else 0.0,
        sampled_at=now if running else None,
    )


def cost(*, cpu_seconds: float, memory_mib: int, running_seconds: float, card: RateCard) -> float:
    """CPU used plus memory reserved for the time it ran, at the rate card's prices."""
    cpu = cpu_seconds / SECONDS_PER_HOUR * card.cpu_hour
    memory = memory_mib / MIB_PER_GIB * running_seconds / SECONDS_PER_HOUR * card.gib_hour
    return round(cpu + memory, COST_DIGITS)


def forecast(*, cpu_millicores: int, memory_mib: int, duration_seconds: int, card: RateCard) -> float:
    """The most a trial can cost over `duration_seconds`: every reserved core busy and the
    reserved memory held the whole time."""
    hours = duration_seconds / SECONDS_PER_HOUR
    cpu = cpu_millicores / 1000 * hours * card.cpu_hour
    memory = memory_mib / MIB_PER_GIB * hours * card.gib_hour
    return round(cpu + memory, COST_DIGITS)


def money(amount: float, currency: str) -> str:
    """How a page shows an amount: `£0.0123`, `$1.50`, `0.50 CHF`. Amounts under a penny keep
    four decimal places (six under a hundredth of one), so a short trial does not show as
    nothing."""
    symbol = {"GBP": "£", "USD": "$", "EUR": "€"}.get(currency)
    if amount >= 0.01 or amount == 0:
        figure = f"{amount:,.2f}"
    else:
        figure = f"{amount:.4f}" if amount >= 0.0001 else f"{amount:.6f}"
    return f"{symbol}{figure}" if symbol else f"{figure} {currency}"


def processing_words(cpu_seconds: float) -> str:
    """Pure: CPU time as a civil servant reads it ('12.5 seconds', '4.2 minutes', '1.25
    hours'): never minutes counted in seconds."""
    if cpu_seconds < 60:
        return f"{cpu_seconds:,.1f} seconds"
    if cpu_seconds < 3600:
        return f"{cpu_seconds / 60:,.1f} minutes"
    return f"{cpu_seconds / 3600:,.2f} hours"


def memory_words(memory_bytes: int) -> str:
    """Pure: memory as a civil servant reads it ('48 megabytes', '1.50 gigabytes'), not in the
    runtime's MiB."""
    if memory_bytes < 2**30:
        return f"{memory_bytes / 2**20:,.0f} megabytes"
    return f"{memory_bytes / 2**30:,.2f} gigabytes"
