"""The clocks of the in-cluster load's pods against the host's, and the CPU time they
used: each pod's clock is read through the API server (`date` in the pod, bracketed by
the host's clock) before the load and after it, so its records can be moved onto the
host's clock with a stated residual uncertainty. A part of
graceproof.load.cluster_run.ClusterLoadRun (`PodClocks`).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException

from graceproof.errors import ExecError
from graceproof.load.cluster_pods import CONTAINER, MASTER
from graceproof.load.placement import LoadContext

__all__ = ["ClockReading", "PodClocks", "applied", "cpu_seconds", "read_clock"]


@dataclass(frozen=True)
class ClockReading:
    """A pod's clock against the host's: pod - host, within +- uncertainty."""

    offset_s: float
    uncertainty_s: float


def read_clock(ctx: LoadContext, pod: str, samples: int = 3) -> ClockReading:
    """The pod's clock offset: `date` in the pod bracketed by the host's clock; the
    sample with the shortest round trip (its midpoint is the best guess, half the
    round trip the bound)."""
    best: ClockReading | None = None
    for _ in range(samples):
        t0 = time.time()
        out = ctx.kube.exec(ctx.namespace, pod, CONTAINER, ["date", "+%s.%N"], timeout=15)
        t1 = time.time()
        reading = ClockReading(float(out.strip()) - (t0 + t1) / 2, (t1 - t0) / 2)
        if best is None or reading.uncertainty_s < best.uncertainty_s:
            best = reading
    assert best is not None
    return best


def applied(reading: ClockReading) -> float:
    """The correction a pod's records get: its offset when the reading tells it apart
    from none, else none (a pod on the host's own clock, as on the local cluster and
    kind, reads a few ms off from the exec's asymmetry; moving its records by that would
    add an error, not remove one)."""
    return reading.offset_s if abs(reading.offset_s) > reading.uncertainty_s else 0.0


def cpu_seconds(ctx: LoadContext, pod: str) -> float | None:
    """CPU time the pod's container used so far, None if unknown: cgroup v2's cpu.stat
    (usage_usec), else cgroup v1's cpuacct.usage (nanoseconds)."""
    script = (
        "cat /sys/fs/cgroup/cpu.stat 2>/dev/null || "
        "echo usage_nsec $(cat /sys/fs/cgroup/cpuacct/cpuacct.usage)"
    )
    try:
        out = ctx.kube.exec(ctx.namespace, pod, CONTAINER, ["sh", "-c", script], timeout=15)
    except (ExecError, ApiException):
        return None
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec" and value.strip().isdigit():
            return int(value) / 1e6
        if key == "usage_nsec" and value.strip().isdigit():
            return int(value) / 1e9
    return None


class PodClocks:
    """Each load pod's clock readings and CPU time, at the start and at the end."""

    ctx: LoadContext
    clocks: dict[str, list[ClockReading]]
    cpu: dict[str, list[float | None]]  # CPU seconds at the start and the end

    def _read_clocks_again(self) -> None:
        """The second reading of each pod's clock, for its drift over the run; a pod
        whose Locust has ended (a worker, once the master quit) cannot be read."""
        for pod, readings in self.clocks.items():
            if len(readings) == 1:
                with contextlib.suppress(ExecError, ApiException, ValueError):
                    readings.append(read_clock(self.ctx, pod))
                    self.cpu[pod].append(cpu_seconds(self.ctx, pod))

    def _cpu(self) -> dict[str, float | None]:
        """CPU seconds each load pod used during the run (None: not read twice)."""
        out: dict[str, float | None] = {}
        for pod, (first, *rest) in self.cpu.items():
            last = rest[-1] if rest else None
            out[pod] = None if first is None or last is None else round(last - first, 3)
        return out

    def _clock(self) -> dict[str, Any]:
        """Each pod's offset, its bound and its drift over the run; the residual
        uncertainty of any record time moved onto the host's clock."""
        pods: dict[str, dict[str, float | None]] = {}
        residual = 0.0
        for pod, readings in self.clocks.items():
            if pod == MASTER:
                continue  # it makes no request
            first, last = readings[0], readings[-1]
            # None: the pod's clock could be read once only (it had ended).
            drift = last.offset_s - first.offset_s if len(readings) > 1 else None
            pods[pod] = {
                "offset_s": round(first.offset_s, 4),
                "applied_s": round(applied(first), 4),
                "uncertainty_s": round(first.uncertainty_s, 4),
                "drift_s": None if drift is None else round(drift, 4),
            }
            # What is left after the correction (all of the offset when none was
            # applied), the reading's own bound, and the drift over the run.
            left = abs(first.offset_s - applied(first))
            residual = max(residual, left + first.uncertainty_s + abs(drift or 0.0))
        return {"pods": pods, "residual_uncertainty_s": round(residual, 4)}
