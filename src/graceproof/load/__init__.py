"""The load: how it behaves, where it runs, and what it recorded.

A newcomer who wants to change how the load runs starts here; each module holds one
job:

- settings.py     LoadSettings: how the load behaves (users, mode, rate, connection...).
- locustfiles.py  where graceproof's locustfiles are, and the GRACEPROOF_* variables
                  they read (declared once, in workloads/locust_settings.py).
- runner.py       LoadRunner, the base of every runner: enter/exit, cleanup after a
                  failed start, the two waits, Locust's command line for each role
                  (single, master, worker) and the LoadResult. A runner implements only
                  start, status, stop, collect and teardown.
- host_run.py     LoadRun: Locust as subprocesses on this host.
- cluster_run.py  ClusterLoadRun: a Locust master and workers as pods (its pods in
                  cluster_pods.py, their clocks and CPU time in cluster_clock.py).
- placement.py    Placement, the seam a scenario chooses where its load runs by; each
                  placement checks that its load can reach the target and makes its
                  runner: host.py (OnHost, the default) and cluster.py (InCluster).
- result.py       LoadResult, and reading records files.

Where the load runs is one choice about the load, as its settings are, and the runners
of both placements share everything above: so the placements live in this package (no
longer a package of their own), and `graceproof.placement` stays only as the short
import path the README shows for them. The package never imports Locust: importing it
monkey-patches gevent and urllib3 and breaks the kubernetes client in this process.
"""

from graceproof.load.cluster import OFFICIAL_LOCUST_IMAGE, InCluster, Resources
from graceproof.load.cluster_pods import NOT_LOAD_PODS
from graceproof.load.cluster_run import ClusterLoadRun
from graceproof.load.host import OnHost
from graceproof.load.host_run import QUARANTINE_ENV, QUARANTINE_FILE, LoadRun
from graceproof.load.locustfiles import LOCUSTFILE_ENV, LocustfileNotFound, default_locustfile
from graceproof.load.placement import PLACEMENTS, LoadContext, Placement
from graceproof.load.result import (
    LoadResult,
    LoadTimeout,
    LocustCrashed,
    crash_reason,
    load_records,
    merge_records,
)
from graceproof.load.runner import STARTUP_ALLOWANCE_S, LoadRunner
from graceproof.load.settings import (
    DEFAULT_SOURCE_PORTS,
    HTTP_METHODS,
    LOAD_MODES,
    LoadMode,
    LoadSettings,
)

__all__ = [
    "DEFAULT_SOURCE_PORTS",
    "HTTP_METHODS",
    "LOAD_MODES",
    "LOCUSTFILE_ENV",
    "NOT_LOAD_PODS",
    "OFFICIAL_LOCUST_IMAGE",
    "PLACEMENTS",
    "QUARANTINE_ENV",
    "QUARANTINE_FILE",
    "STARTUP_ALLOWANCE_S",
    "ClusterLoadRun",
    "InCluster",
    "LoadContext",
    "LoadMode",
    "LoadResult",
    "LoadRun",
    "LoadRunner",
    "LoadSettings",
    "LoadTimeout",
    "LocustCrashed",
    "LocustfileNotFound",
    "OnHost",
    "Placement",
    "Resources",
    "crash_reason",
    "default_locustfile",
    "load_records",
    "merge_records",
]  # fmt: skip
