"""Kubernetes as the signed-in person: every request carries their bearer token, on one shared
pool of connections to the API server. Async, so that a page's requests go out together and a
live page's watch holds no thread."""

import os
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml
from prometheus_client import Counter

from stratus.constants import GROUP, VERSION

Manifest = dict[str, Any]
Patch = Manifest | list[Manifest]
"""A JSON merge patch, or the operations of a JSON patch."""

API_REQUESTS = Counter(
    "stratus_dashboard_api_requests",
    "Requests the console sent to the Kubernetes API, on behalf of signed-in people.",
    ["verb", "resource"],
)

IN_CLUSTER_CA = Path("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
WATCH_SECONDS = 240
"""How long one watch request lasts before the API server ends it and the stream starts another."""


@dataclass(frozen=True)
class Resource:
    """A kind as the API serves it: the path segments of its collection."""

    group: str
    version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        scope = f"/namespaces/{namespace}" if self.namespaced and namespace else ""
        return f"{root}{scope}/{self.plural}" + (f"/{name}" if name else "")


def stratus(plural: str, namespaced: bool = True) -> Resource:
    return Resource(GROUP, VERSION, plural, namespaced)


PROJECTS = stratus("projects", namespaced=False)
FLAVORS = stratus("flavors", namespaced=False)
HOST_MAINTENANCES = stratus("hostmaintenances", namespaced=False)
SERVERS = stratus("servers")
VOLUMES = stratus("volumes")
SNAPSHOTS = stratus("snapshots")
VOLUME_BACKUPS = stratus("volumebackups")
IMAGES = stratus("images")
NETWORKS = stratus("networks")
PORTS = stratus("ports")
KEYPAIRS = stratus("keypairs")
SERVERGROUPS = stratus("servergroups")
SECURITYGROUPS = stratus("securitygroups")
ROUTERS = stratus("routers")
FLOATINGIPS = stratus("floatingips")
LOADBALANCERS = stratus("loadbalancers")
BUCKETS = stratus("buckets")
EVENTS = Resource("", "v1", "events")
SECRETS = Resource("", "v1", "secrets")
PODS = Resource("", "v1", "pods")
NODES = Resource("", "v1", "nodes", namespaced=False)
RULES_REVIEWS = Resource("authorization.k8s.io", "v1", "selfsubjectrulesreviews", False)
SELF_REVIEWS = Resource("authentication.k8s.io", "v1", "selfsubjectreviews", False)


class ApiError(Exception):
    """The API server refused: its HTTP status, and its message as kubectl shows it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @classmethod
    def of(cls, response: httpx.Response) -> "ApiError":
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        message = body.get("message") or response.text.strip() or response.reason_phrase
        return cls(response.status_code, message)


@dataclass(frozen=True)
class ApiServer:
    """Where the API server is and how to trust it; never whose credentials to use."""

    url: str
    ca_file: str | None = None

    def connect(self) -> httpx.AsyncClient:
        """The console's one pool of connections, shared by everyone's requests."""
        context = ssl.create_default_context(cafile=self.ca_file)
        return httpx.AsyncClient(
            base_url=self.url,
            verify=context,
            timeout=httpx.Timeout(10.0, read=WATCH_SECONDS + 30),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )


def api_server() -> ApiServer:
    """The API server: in a pod, from the environment Kubernetes sets and the cluster's CA
    (the chart mounts the kube-root-ca.crt ConfigMap; the console needs no token of its own);
    elsewhere, the current context of the kubeconfig, whose credentials are not used."""
    host, port = (
        os.environ.get("KUBERNETES_SERVICE_HOST"),
        os.environ.get("KUBERNETES_SERVICE_PORT"),
    )
    if host and port:
        ca = os.environ.get("STRATUS_DASHBOARD_CA") or str(IN_CLUSTER_CA)
        return ApiServer(f"https://{host}:{port}", ca)
    path = Path(os.environ.get("KUBECONFIG") or Path.home() / ".kube" / "config")
    config = yaml.safe_load(path.read_text())
    current = config.get("current-context")
    context = next(c["context"] for c in config["contexts"] if c["name"] == current)
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    ca = cluster.get("certificate-authority")
    if ca and not Path(ca).is_absolute():
        ca = str(path.parent / ca)
    return ApiServer(cluster["server"], ca)


@dataclass(frozen=True)
class Kube:
    """The API as one person: their token on the shared pool."""

    http: httpx.AsyncClient
    token: str

    async def _send(
        self,
        verb: str,
        resource: Resource,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Manifest:
        API_REQUESTS.labels(verb, resource.plural).inc()
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        content = None
        if body is not None:
            headers["Content-Type"] = content_type
            content = orjson.dumps(body)
        response = await self.http.request(
            method, path, params=params, content=content, headers=headers
        )
        if response.is_error:
            raise ApiError.of(response)
        # orjson: a LIST of 500 Servers is 2 MB of JSON, which json takes 70 ms to read.
        found: Manifest = orjson.loads(response.content)
        return found

    async def get(self, resource: Resource, name: str, namespace: str | None = None) -> Manifest:
        return await self._send("get", resource, "GET", resource.path(namespace, name))

    async def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        field_selector: str | None = None,
    ) -> Manifest:
        """One LIST: the items and the collection's resourceVersion to watch from."""
        params = {"fieldSelector": field_selector} if field_selector else None
        return await self._send("list", resource, "GET", resource.path(namespace), params=params)

    async def create(
        self, resource: Resource, body: Manifest, namespace: str | None = None
    ) -> Manifest:
        return await self._send("create", resource, "POST", resource.path(namespace), body=body)

    async def patch(
        self,
        resource: Resource,
        name: str,
        patch: Patch,
        namespace: str | None = None,
    ) -> Manifest:
        """A JSON merge patch, or with a list of operations a JSON patch (whose `test`
        operations make it fail if what it changes changed meanwhile)."""
        kind = "json-patch" if isinstance(patch, list) else "merge-patch"
        return await self._send(
            "patch",
            resource,
            "PATCH",
            resource.path(namespace, name),
            body=patch,
            content_type=f"application/{kind}+json",
        )

    async def delete(self, resource: Resource, name: str, namespace: str | None = None) -> None:
        await self._send("delete", resource, "DELETE", resource.path(namespace, name))

    async def watch(
        self,
        resource: Resource,
        namespace: str | None,
        resource_version: str,
        field_selector: str | None = None,
    ) -> AsyncIterator[Manifest]:
        """The events after `resource_version` (with "", the objects as they are now, then
        their changes), one watch request at a time, for as long as the caller reads. An error,
        such as 410 Gone for a version too old, ends the stream."""
        params = {"watch": "true", "allowWatchBookmarks": "true"}
        if field_selector:
            params["fieldSelector"] = field_selector
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        while True:
            params |= {"resourceVersion": resource_version, "timeoutSeconds": str(WATCH_SECONDS)}
            API_REQUESTS.labels("watch", resource.plural).inc()
            async with self.http.stream(
                "GET", resource.path(namespace), params=params, headers=headers
            ) as response:
                if response.is_error:
                    await response.aread()
                    raise ApiError.of(response)
                async for line in response.aiter_lines():
                    if not line:
                        continue
                    event = orjson.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        raise ApiError(status.get("code", 500), status.get("message", ""))
                    resource_version = event["object"]["metadata"]["resourceVersion"]
                    if event.get("type") != "BOOKMARK":
                        yield event

    async def who_am_i(self) -> dict[str, Any]:
        """The person the token belongs to, as the API server authenticates it (a
        SelfSubjectReview: allowed to every authenticated person, so it also checks the token)."""
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        found = await self.create(SELF_REVIEWS, review)
        info = (found.get("status") or {}).get("userInfo") or {}
        return {"username": info.get("username", ""), "groups": list(info.get("groups") or [])}

    async def rules(self, namespace: str) -> Manifest:
        """What this person may do in `namespace`, cluster-wide grants included, in one
        SelfSubjectRulesReview: allowed to every authenticated person."""
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectRulesReview",
            "spec": {"namespace": namespace},
        }
        found = await self.create(RULES_REVIEWS, review)
        return found.get("status") or {}
