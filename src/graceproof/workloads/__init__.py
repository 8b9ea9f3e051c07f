"""Workloads graceproof can prove: the seam (`Workload`, `Target`, `DeployContext`)
and the sample app (`SampleApp` and its manifests). A new kind of workload is one new
module with one `Workload` subclass; nothing here needs to change."""

from graceproof.errors import WorkloadSpecError
from graceproof.hooks import STOP_LOG_MESSAGE, STOP_LOG_PATH, prestop_exec_command
from graceproof.workloads.base import (
    NOT_IN_ID,
    DeployContext,
    Target,
    Workload,
    changed_parameters,
    parameters_of,
)
from graceproof.workloads.sample import (
    APP_PORT,
    NODE_PORTS,
    SHUTDOWN_MODES,
    VARIANTS,
    Pdb,
    SampleApp,
    ShutdownMode,
    example,
    example_yaml,
    main,
    render,
    render_pod,
    render_registry,
    render_service,
    stale_examples,
    to_yaml,
    write_examples,
)

__all__ = [
    "APP_PORT",
    "NODE_PORTS",
    "NOT_IN_ID",
    "SHUTDOWN_MODES",
    "STOP_LOG_MESSAGE",
    "STOP_LOG_PATH",
    "VARIANTS",
    "DeployContext",
    "Pdb",
    "SampleApp",
    "ShutdownMode",
    "Target",
    "Workload",
    "WorkloadSpecError",
    "changed_parameters",
    "example",
    "example_yaml",
    "main",
    "parameters_of",
    "prestop_exec_command",
    "render",
    "render_pod",
    "render_registry",
    "render_service",
    "stale_examples",
    "to_yaml",
    "write_examples",
]
