"""The signals a container's process says it received, from its log lines that are not
the sample app's JSON events: nginx's notice, which Debian's nginx writes at
`error_log stderr notice` (graceproof.workloads.sidecar_manifests' nginx.conf):

    2026/12/06 18:30:01 [notice] 1#1: signal 15 (SIGTERM) received, exiting
    2026/12/06 18:30:01 [notice] 1#1: signal 3 (SIGQUIT) received, shutting down

(" from PID" follows "received" when the sender is in the container's PID namespace;
the runtime's stop signal comes from outside it.)

It tells which signal the runtime really sent: a `lifecycle.stopSignal` that the
runtime ignores still gives SIGTERM. nginx stamps whole seconds, in the container's
local time: read as UTC, which the nginx example's image (graceproof.workloads.sidecar's
proxy) runs in, having no time zone set; so the time is to the second.
"""

from __future__ import annotations

import calendar
import re
from typing import NamedTuple

__all__ = ["SignalLine", "signal_line"]

_NGINX = re.compile(
    rb"^(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d) \[notice\] \d+#\d+: "
    rb"signal (\d+) \((SIG[A-Z0-9]+)\) received"
)


class SignalLine(NamedTuple):
    t: float  # the second the process logged it
    name: str  # SIGTERM
    number: int  # 15


def signal_line(raw: bytes) -> SignalLine | None:
    """The signal a log line reports, or None when it reports none."""
    m = _NGINX.match(raw.strip())
    if m is None:
        return None
    y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
    t = float(calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)))
    return SignalLine(t, m.group(8).decode(), int(m.group(7)))
