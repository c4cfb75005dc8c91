"""The console signs people in with their own token, as the real API server authenticates it,
and keeps changes behind its CSRF check."""

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from stratus.dashboard.app import create_app
from stratus.dashboard.kubeapi import Cluster as ApiServer
from tests.integration.conftest import Cluster


@pytest.fixture
def console(cluster: Cluster) -> Iterator[TestClient]:
    server = ApiServer(cluster.state.endpoints()["apiserver"], str(cluster.state.pki / "ca.crt"))
    with TestClient(create_app(server, secure=False), base_url="http://localhost") as client:
        yield client


def person_token(cluster: Cluster, name: str) -> str:
    cluster.kubectl("create", "serviceaccount", name, "-n", "default", check=False)
    return cluster.kubectl("create", "token", name, "-n", "default").stdout.strip()


def test_a_person_signs_in_with_their_token_and_out_again(
    cluster: Cluster, console: TestClient
) -> None:
    assert console.get("/", follow_redirects=False).headers["location"] == "/login"
    console.get("/login")
    csrf = {"x-csrftoken": console.cookies["csrftoken"]}
    refused = console.post("/login", data={"token": "not-a-token"}, headers=csrf)
    assert refused.status_code == 401
    assert "the API server refused this token" in refused.text
    token = person_token(cluster, "console-person")
    console.post("/login", data={"token": token}, headers=csrf)
    home = console.get("/")
    assert re.findall(r"<strong>([^<]*)", home.text) == [
        "system:serviceaccount:default:console-person"
    ]
    console.post("/logout", headers=csrf)
    assert console.get("/", follow_redirects=False).headers["location"] == "/login"


def test_a_change_without_the_csrf_header_is_refused(console: TestClient) -> None:
    console.get("/login")
    assert console.post("/login", data={"token": "x"}).status_code == 403
