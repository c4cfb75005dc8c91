"""Key pairs, Server groups and Buckets: what a tenant keeps beside Servers and storage."""

import base64

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stratus.dashboard import manifests
from stratus.dashboard.kubeapi import BUCKETS, KEYPAIRS, SECRETS, SERVERGROUPS, ApiError
from stratus.dashboard.views import kind_routes, page, refused, visit

CREDENTIAL_KEYS = ("endpoint", "bucket", "accessKey", "secretKey")


async def credentials(request: Request) -> Response:
    """A Bucket's keys, read from its Secret as the person, only when they ask: never in a
    list, never cached by the browser."""
    place = await visit(request)
    name = request.path_params["name"]
    try:
        bucket = await place.kube.get(BUCKETS, name, place.namespace)
        secret_name = (bucket.get("status") or {}).get("credentialsSecret") or ""
        secret = await place.kube.get(SECRETS, secret_name, place.namespace)
    except ApiError as error:
        return refused(error)
    data = secret.get("data") or {}
    shown = {k: base64.b64decode(data.get(k, "")).decode() for k in CREDENTIAL_KEYS}
    response = page(
        place, "buckets/_credentials.html", name=name, secret=secret_name, credentials=shown
    )
    response.headers["cache-control"] = "no-store"
    return response


routes = [
    *kind_routes(KEYPAIRS, manifests.key_pair),
    *kind_routes(SERVERGROUPS, manifests.server_group),
    Route("/p/{project}/buckets/{name}/credentials", credentials, methods=["POST"]),
    *kind_routes(BUCKETS, manifests.bucket),
]
