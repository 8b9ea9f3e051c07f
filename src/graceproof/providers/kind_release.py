"""The kind release graceproof is built for: its pinned node images, the default
Kubernetes minor and the default cluster name.

Plain values and string functions, no client: the options (graceproof.config) name
them in their help and defaults at every pytest start, where the kubernetes client
must stay unimported (tests/unit/test_packaging.py).
"""

from __future__ import annotations

from graceproof.errors import OptionError

__all__ = [
    "DEFAULT_CLUSTER_NAME",
    "DEFAULT_K8S_VERSION",
    "KIND_NODE_IMAGES",
    "KIND_RELEASE",
    "node_image",
    "normalize_k8s_version",
]

# kind node images are built for one kind release and pinned by digest (kind's
# release notes: "You must use the @sha256 digest"). These are the images published
# with kind v0.33.0, copied from its release notes ("Images pre-built for this
# release"); it publishes none for 1.33 and older. hack/kind.sh builds the same kind.
KIND_RELEASE = "v0.33.0"
KIND_NODE_IMAGES: dict[str, str] = {
    "1.37": "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5",  # noqa: E501
    "1.36": "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed",  # noqa: E501
    "1.35": "kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0",  # noqa: E501
    "1.34": "kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d",  # noqa: E501
}
DEFAULT_K8S_VERSION = "1.34"
DEFAULT_CLUSTER_NAME = "graceproof"


def normalize_k8s_version(value: str) -> str:
    """'1.34', 'v1.34' or the exact pinned '1.34.0' -> '1.34'; else `OptionError`."""
    v = value.strip().removeprefix("v")
    minor = ".".join(v.split(".")[:2])
    if minor in KIND_NODE_IMAGES and (v == minor or f"v{v}@" in KIND_NODE_IMAGES[minor]):
        return minor
    known = ", ".join(KIND_NODE_IMAGES)
    raise OptionError(
        f"--gp-k8s-version {value!r} is not supported: kind {KIND_RELEASE} node images exist "
        f"for {known}"
    )


def node_image(given: str | None, k8s_version: str | None) -> str:
    """The node image to create a cluster from: the one given, else the pinned one of
    the minor (the default minor when None)."""
    return given or KIND_NODE_IMAGES[k8s_version or DEFAULT_K8S_VERSION]
