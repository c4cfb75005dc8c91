"""Kubernetes as the signed-in person: one API client per request, with their token."""

from dataclasses import dataclass
from typing import Any

from kubernetes import client, config


@dataclass(frozen=True)
class Cluster:
    """Where the API server is and how to trust it; never whose credentials to use."""

    server: str
    ca_file: str | None = None

    def as_person(self, token: str) -> client.ApiClient:
        configuration = client.Configuration()
        configuration.host = self.server
        configuration.ssl_ca_cert = self.ca_file
        configuration.api_key = {"authorization": token}
        configuration.api_key_prefix = {"authorization": "Bearer"}
        return client.ApiClient(configuration)


def api_server() -> Cluster:
    """The API server, from the pod's ServiceAccount mount or the kubeconfig; only where it is
    and its CA are kept: the credentials found there are not the person's."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)
    return Cluster(configuration.host, configuration.ssl_ca_cert)


def who_is(api: client.ApiClient) -> dict[str, Any]:
    """The person the token belongs to, as the API server authenticates it (a
    SelfSubjectReview: allowed to every authenticated person, so it also checks the token)."""
    review = client.AuthenticationV1Api(api).create_self_subject_review(
        client.V1SelfSubjectReview()
    )
    info = review.status.user_info if review.status else None
    if info is None:
        return {"username": "", "groups": []}
    return {"username": info.username, "groups": list(info.groups or [])}
