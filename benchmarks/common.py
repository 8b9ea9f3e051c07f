"""Shared set-up of the benchmarks: the cluster from a kubeconfig, a labelled namespace."""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from graceproof.kube import Kube
from graceproof.namespaces import test_namespace

REPO = Path(__file__).resolve().parents[1]


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    # hack/kind-bench.sh sets the variable to the kind cluster it made for the run.
    default = (
        os.environ.get("GRACEPROOF_BENCH_KUBECONFIG") or REPO / ".local-cluster" / "kubeconfig"
    )
    p.add_argument("--kubeconfig", type=Path, default=default)
    p.add_argument("--image", default="graceproof/workload:0.1.0")
    return p


@contextmanager
def namespace(kube: Kube, name: str) -> Iterator[str]:
    with test_namespace(kube, "bench", name, lambda: False) as ns:
        yield ns


def spread(values: Sequence[float]) -> str:
    """median [min, max] of n values."""
    if not values:
        return "n/a"
    return (
        f"{statistics.median(values):6.2f} s  [{min(values):.2f}, {max(values):.2f}]  "
        f"n={len(values)}"
    )
