"""Whether a timing can be trusted: the competing load during it and the spread of its repetitions.

`watch()` brackets a measurement: it reads how much CPU time the whole machine spent (/proc/stat) and
how much this process spent, so the difference is the work of *other* processes, in cores, during the
measurement. A run is marked unreliable, with the reason, when other processes used more than
MAX_COMPETING_CORES, or when the repetitions of some timed series spread more than MAX_RELATIVE_SPREAD
around their median (interquartile range, or min-max with fewer than 4 repetitions), or when a calibration
kernel timed before and after the measurement ran more than MAX_CALIBRATION_DRIFT apart (the machine itself
changed speed, e.g. a virtual machine's host got busy: no process inside it shows that). Where /proc/stat
cannot be read (not Linux), the 1-minute load average stands in for the competing load.
"""
from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from text import tr

MAX_COMPETING_CORES = 0.5
MAX_RELATIVE_SPREAD = 0.3
MAX_CALIBRATION_DRIFT = 0.2
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), not the machine's count."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _machine_busy_seconds() -> float | None:
    """CPU seconds all processes have spent busy since boot (None where /proc/stat is missing)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


@dataclass(frozen=True)
class Reliability:
    reliable: bool
    reasons: list[str]  # empty when reliable
    competing_cores: float  # cores used by other processes during the measurement (average)
    cores: int  # cores this process may use
    worst_spread: float  # largest relative spread of a timed series (IQR / median)
    seconds: float  # wall time of the measurement
    calibration_drift: float = 0.0  # relative change of a calibration kernel's speed, before vs after (0: not timed)


def calibration_drift(before: Iterable[float], after: Iterable[float]) -> float:
    """The largest relative change between paired calibration rates (e.g. FLOP/s, bytes/s) timed before and
    after a measurement: |before - after| / the larger of the two."""
    return max((abs(b - a) / max(a, b) for b, a in zip(before, after) if max(a, b) > 0), default=0.0)


def relative_spread(samples: Iterable[float]) -> float:
    values = sorted(samples)
    if len(values) < 2:
        return 0.0
    median = statistics.median(values)
    if len(values) >= 4:
        q = statistics.quantiles(values, n=4, method="inclusive")
        width = q[2] - q[0]
    else:
        width = values[-1] - values[0]
    return width / median if median else 0.0


def _own_seconds(children: bool) -> float:
    """CPU seconds of this process, plus its finished (waited-for) child processes' when `children`."""
    if not children:
        return time.process_time()
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class Watch:
    """Filled in by `watch()`; call `verdict(spreads)` with each timed series' relative spread once done."""
    children: bool = False  # the measurement runs in child processes: their CPU time is not competing load
    start_wall: float = field(default_factory=time.perf_counter)
    start_busy: float | None = field(default_factory=_machine_busy_seconds)
    start_own: float = 0.0
    end_wall: float = 0.0
    end_busy: float | None = None
    end_own: float = 0.0
    load_average: float = 0.0

    def competing_cores(self) -> float:
        wall = max(self.end_wall - self.start_wall, 1e-9)
        if self.start_busy is None or self.end_busy is None:
            return max(0.0, self.load_average - 1.0)  # the load average counts this process too
        return max(0.0, ((self.end_busy - self.start_busy) - (self.end_own - self.start_own)) / wall)

    def verdict(self, spreads: Iterable[float], drift: float = 0.0) -> Reliability:
        """drift: `calibration_drift` of kernels timed before and after (0 where none were)."""
        competing, cores = self.competing_cores(), available_cores()
        spread = max(spreads, default=0.0)
        reasons = unreliable_because(competing, cores, spread, drift)
        return Reliability(not reasons, reasons, competing, cores, spread, self.end_wall - self.start_wall, drift)


def unreliable_because(competing: float, cores: int, spread: float, drift: float = 0.0) -> list[str]:
    """Why a run with this competing load (cores), worst relative spread and calibration drift is unreliable,
    in the current language ([] if it is not); a stored run's reasons are rebuilt from its numbers for each reader."""
    reasons = []
    if competing > MAX_COMPETING_CORES:
        reasons.append(tr("other processes kept {used:.1f} of this machine's {cores} cores busy while it measured",
                          used=competing, cores=cores))
    if spread > MAX_RELATIVE_SPREAD:
        reasons.append(tr("repetitions of one timing spread {spread:.0f}% around their median (more than {limit:.0f}%)",
                          spread=100 * spread, limit=100 * MAX_RELATIVE_SPREAD))
    if drift > MAX_CALIBRATION_DRIFT:
        reasons.append(tr("the calibration kernels ran {drift:.0f}% apart before and after the timings (more than {limit:.0f}%): "
                          "the machine itself changed speed while it measured", drift=100 * drift, limit=100 * MAX_CALIBRATION_DRIFT))
    return reasons


@contextmanager
def watch(children: bool = False):
    """with watch() as w: <measure>; then w.verdict(spreads). children: the measurement runs in child
    processes that have ended (been waited for) when the block ends; their CPU time counts as its own."""
    w = Watch(children)
    w.start_own = _own_seconds(children)
    try:
        yield w
    finally:
        w.end_wall, w.end_busy, w.end_own = time.perf_counter(), _machine_busy_seconds(), _own_seconds(children)
        w.load_average = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
