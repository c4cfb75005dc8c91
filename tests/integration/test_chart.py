"""The Helm chart: it lints, its values are checked by its schema, it renders what an
operator needs, and the API server accepts all of it."""

import subprocess
from pathlib import Path
from typing import Any

import yaml

from devcluster.components import binary
from stratus.config import Settings
from tests.integration.conftest import REPO, Cluster

CHART = REPO / "charts" / "stratus"


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary("helm")), *args], capture_output=True, text=True, check=False)


def test_chart_lints_clean() -> None:
    result = helm("lint", str(CHART))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_helm_template_works_as_users_run_it() -> None:
    """No --kube-version: helm template assumes an old Kubernetes without one."""
    rendered = helm("template", "stratus", str(CHART))
    assert rendered.returncode == 0, rendered.stderr
    assert "kind: Deployment" in rendered.stdout


def test_chart_crds_are_the_generated_ones() -> None:
    chart_crds = CHART / "crds"
    assert sorted(p.name for p in chart_crds.glob("*.yaml")) == sorted(
        p.name for p in (REPO / "crds").glob("*.yaml")
    )
    for path in chart_crds.glob("*.yaml"):
        assert path.read_text() == (REPO / "crds" / path.name).read_text()


def test_rendered_chart_is_accepted_by_the_api_server(cluster: Cluster, tmp_path: Path) -> None:
    rendered = helm(
        "template",
        "stratus",
        str(CHART),
        "--namespace",
        "stratus-system",
        "--include-crds",
        "--kube-version",
        "1.34.4",
    )
    assert rendered.returncode == 0, rendered.stderr
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", stdin=rendered.stdout)
    # The suite's cluster already has the release installed: configured or unchanged.
    assert "deployment.apps/stratus-operator" in result.stdout
    assert "(server dry run)" in result.stdout


def rendered_kinds(*values: str) -> dict[str, dict[str, Any]]:
    rendered = helm("template", "stratus", str(CHART), "--kube-version", "1.34.4", *values)
    assert rendered.returncode == 0, rendered.stderr
    return {
        f"{d['kind']}/{d['metadata']['name']}": d for d in yaml.safe_load_all(rendered.stdout) if d
    }


def test_values_outside_the_schema_are_refused() -> None:
    for wrong in (
        "replicas=-1",
        "logFormat=xml",
        "metrics.port=80",
        "config.colour=blue",
        "dashboard.replicas=-1",
        "dashboard.ingress.host=Not A Host",
        "dashboard.colour=blue",
    ):
        result = helm("lint", str(CHART), "--set", wrong)
        assert result.returncode != 0, wrong
        assert "values don't meet the specifications of the schema" in result.stdout + result.stderr


def test_the_operator_pod_is_hardened_probed_and_sized() -> None:
    pod = rendered_kinds()["Deployment/stratus-operator"]["spec"]["template"]["spec"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    [container] = pod["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"] == {"cpu": "100m", "memory": "192Mi"}


def test_the_console_is_hardened_like_the_operator_and_holds_no_credential() -> None:
    kinds = rendered_kinds()
    pod = kinds["Deployment/stratus-dashboard"]["spec"]["template"]["spec"]
    operator_pod = kinds["Deployment/stratus-operator"]["spec"]["template"]["spec"]
    assert pod["securityContext"] == operator_pod["securityContext"]
    [container] = pod["containers"]
    assert container["securityContext"] == operator_pod["containers"][0]["securityContext"]
    assert container["command"] == ["stratus", "dashboard"]
    assert pod["automountServiceAccountToken"] is False
    assert kinds["ServiceAccount/stratus-dashboard"]["automountServiceAccountToken"] is False
    bound = [
        d for d in kinds.values() if d["kind"] in ("RoleBinding", "ClusterRoleBinding")
        for subject in d.get("subjects") or [] if subject["name"] == "stratus-dashboard"
    ]  # fmt: skip
    assert bound == []
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    session_key = {"secretKeyRef": {"name": "stratus-dashboard", "key": "sessionKey"}}
    assert {"name": "STRATUS_DASHBOARD_SECRET", "valueFrom": session_key} in container["env"]
    # The console's pods are not the operator's: neither the operator's Deployment nor its
    # metrics Service selects them.
    labels = kinds["Deployment/stratus-dashboard"]["spec"]["template"]["metadata"]["labels"]
    for selecting in ("Deployment/stratus-operator", "Service/stratus-metrics"):
        spec = kinds[selecting]["spec"]
        selector = spec["selector"].get("matchLabels", spec["selector"])
        assert not selector.items() <= labels.items(), selecting
    assert kinds["Service/stratus-dashboard"]["spec"]["ports"][0]["port"] == 80
    assert not any(k.startswith("Ingress/") for k in kinds)


def test_the_console_has_an_ingress_when_asked() -> None:
    kinds = rendered_kinds(
        "--set", "dashboard.ingress.enabled=true",
        "--set", "dashboard.ingress.host=cloud.example.org",
        "--set", "dashboard.ingress.tlsSecret=cloud-tls",
    )  # fmt: skip
    ingress = kinds["Ingress/stratus-dashboard"]["spec"]
    assert ingress["rules"][0]["host"] == "cloud.example.org"
    assert ingress["tls"] == [{"hosts": ["cloud.example.org"], "secretName": "cloud-tls"}]
    backend = ingress["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "stratus-dashboard", "port": {"name": "http"}}
    assert "Deployment/stratus-dashboard" not in rendered_kinds("--set", "dashboard.enabled=false")


def test_the_configuration_reaches_the_operator_and_parses() -> None:
    kinds = rendered_kinds("--set", "config.kataRuntimeClass=kata-qemu")
    config = yaml.safe_load(kinds["ConfigMap/stratus-config"]["data"]["config.yaml"])
    settings = Settings.model_validate(config)
    assert settings.kata_runtime_class == "kata-qemu"
    assert settings.object_store.credentials_secret == "stratus-system/stratus-object-store"
    [container] = kinds["Deployment/stratus-operator"]["spec"]["template"]["spec"]["containers"]
    assert {"name": "STRATUS_CONFIG", "value": "/etc/stratus/config.yaml"} in container["env"]


def test_metrics_have_a_service_and_a_service_monitor_when_asked() -> None:
    assert "Service/stratus-metrics" in rendered_kinds()
    assert not any(k.startswith("ServiceMonitor/") for k in rendered_kinds())
    monitored = rendered_kinds("--set", "metrics.serviceMonitor.enabled=true")
    endpoint = monitored["ServiceMonitor/stratus-operator"]["spec"]["endpoints"][0]
    assert endpoint == {"port": "metrics", "interval": "30s"}


def test_notes_tell_the_user_what_to_do_next(cluster: Cluster) -> None:
    """As `helm upgrade` prints them, against the release the local cluster has installed."""
    upgrade = helm(
        "upgrade",
        "stratus",
        str(CHART),
        f"--kubeconfig={cluster.kubeconfig}",
        "--namespace=stratus-system",
        "--dry-run=server",
        "--set=replicas=0",
    )
    assert upgrade.returncode == 0, upgrade.stderr
    notes = upgrade.stdout.split("NOTES:", 1)[1]
    assert "kubectl apply -k examples/" in notes
    assert "stratus-object-store" in notes
    assert "port-forward service/stratus-dashboard 8000:80" in notes
