"""Which data plane kube-proxy runs in a cluster: iptables, nftables or ipvs.

The mode changes how fast a terminating pod leaves the Service's rules (the removal
lag a preStop sleep must cover), so every result records it (`cluster.proxy_mode`).

It is read from the `kube-proxy` ConfigMap in kube-system (`config.conf`, a
KubeProxyConfiguration), which kubeadm clusters, and so kind, keep and kube-proxy's
DaemonSet runs with; the local cluster of `hack/` publishes its kube-proxy's file the
same way. Its `mode` left empty is the Linux default, iptables. A cluster without that
ConfigMap (a managed one, kube-proxy replaced by Cilium), or a kubeconfig that may not
read kube-system, leaves the mode unknown: a fact not recorded, never a failure. Only
when a mode is asked for (`--gp-kube-proxy-mode`) must the cluster show it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import yaml

from graceproof.errors import OptionError

if TYPE_CHECKING:
    from graceproof.kube import Kube

__all__ = ["DEFAULT_MODE", "MODES", "check_mode_name", "check_proxy_mode", "read_proxy_mode"]

log = logging.getLogger(__name__)

# kube-proxy's modes on Linux; nftables is GA from 1.33, ipvs deprecated from 1.35.
MODES = ("iptables", "nftables", "ipvs")
DEFAULT_MODE = "iptables"  # what an empty `mode` means on Linux
CONFIGMAP = ("kube-system", "kube-proxy")
CONFIG_KEY = "config.conf"


def check_mode_name(value: str, flag: str = "--gp-kube-proxy-mode") -> str:
    mode = value.strip().lower()
    if mode not in MODES:
        raise OptionError(
            f"{flag} {value!r} is not a kube-proxy mode: use one of {', '.join(MODES)}"
        )
    return mode


def mode_of_config(text: str) -> str | None:
    """The mode of a KubeProxyConfiguration document, None if it is not one."""
    try:
        doc: Any = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(doc, dict) or doc.get("kind") != "KubeProxyConfiguration":
        return None
    mode = doc.get("mode") or DEFAULT_MODE
    return str(mode).strip().lower()


def read_proxy_mode(kube: Kube) -> str | None:
    """The cluster's kube-proxy mode, None when the cluster does not say."""
    # Here, not at the top: the options (graceproof.config) check mode names at every
    # pytest start, which must not pay for the kubernetes client's import.
    from kubernetes.client.exceptions import ApiException

    from graceproof.waiting import REQUEST_TIMEOUT

    namespace, name = CONFIGMAP
    try:
        cm = kube.core.read_namespaced_config_map(name, namespace, _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        why = {403: "forbidden", 401: "unauthorized", 404: "absent"}.get(exc.status or 0)
        if why is None:  # an API server in trouble: the proof will say so itself
            log.warning("kube-proxy's mode is unknown: reading %s/%s failed: %s", *CONFIGMAP, exc)
        else:
            log.info("kube-proxy's mode is unknown: the ConfigMap %s/%s is %s", *CONFIGMAP, why)
        return None
    except Exception as exc:  # a timeout, a lost connection: a fact not recorded
        log.warning("kube-proxy's mode is unknown: reading %s/%s failed: %s", *CONFIGMAP, exc)
        return None
    text = (cm.data or {}).get(CONFIG_KEY)
    return None if text is None else mode_of_config(text)


def check_proxy_mode(kube: Kube, wanted: str, cluster: str) -> str:
    """`wanted` if the cluster runs kube-proxy in that mode, else OptionError naming
    what it runs and the fix."""
    found = read_proxy_mode(kube)
    if found == wanted:
        return found
    if found is None:
        said = (
            f"does not say which mode its kube-proxy runs in (no readable ConfigMap "
            f"{'/'.join(CONFIGMAP)} with a KubeProxyConfiguration in {CONFIG_KEY})"
        )
    else:
        said = f"runs kube-proxy in {found} mode"
    raise OptionError(
        f"--gp-kube-proxy-mode {wanted}: cluster {cluster} {said}. graceproof creates a "
        "kind cluster in the mode asked for, but a cluster that exists keeps its own: for "
        f"kind, delete it (kind delete cluster --name {cluster}) or choose another "
        "--gp-cluster-name; for another cluster, set `mode` in its kube-proxy's "
        "KubeProxyConfiguration; or drop --gp-kube-proxy-mode to prove on the mode it runs"
    )
