"""Where the pinned, cached binaries of the local control plane live; builds them if missing."""

import os
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent


def versions() -> dict[str, str]:
    pins = {}
    for line in (HERE / "versions.env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            pins[key.strip()] = value.strip()
    return pins


def cache_dir() -> Path:
    return Path(os.environ.get("STRATUS_CACHE", Path.home() / ".cache" / "stratus"))


def binary(name: str) -> Path:
    """The path of one component's binary, building its module first if it is not cached."""
    pins = versions()
    component, version = {
        "kube-apiserver": ("kubernetes", pins["KUBERNETES_VERSION"]),
        "kube-controller-manager": ("kubernetes", pins["KUBERNETES_VERSION"]),
        "kube-scheduler": ("kubernetes", pins["KUBERNETES_VERSION"]),
        "kubectl": ("kubernetes", pins["KUBERNETES_VERSION"]),
        "etcd": ("etcd", pins["ETCD_VERSION"]),
        "kwok": ("kwok", pins["KWOK_VERSION"]),
        "minio": ("minio", pins["MINIO_VERSION"]),
        "helm": ("helm", pins["HELM_VERSION"]),
    }[name]
    path = cache_dir() / "bin" / f"{component}-{version}" / name
    if not path.exists():
        subprocess.run([str(HERE / "build.sh"), component], check=True)
    return path


def thirdparty_crds() -> Path:
    """The upstream KubeVirt, CDI, Multus and snapshot CRDs, extracted from their Go modules."""
    target = cache_dir() / "thirdparty-crds"
    subprocess.run([str(HERE / "thirdparty_crds.sh"), str(target)], check=True)
    return target
