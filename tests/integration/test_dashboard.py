"""The console, over HTTP, against the real API server: it signs people in with their own token,
finds their Projects without any cluster-wide right, acts only as them, and reads each kind
with one LIST however many objects there are. The browser tests drive the same pages."""

import base64
import html
import json
import re
from collections.abc import Callable, Iterator

import httpx
import pytest

from devcluster.console import ConsoleProcess
from tests.integration.conftest import (
    PUBLIC_KEY,
    Cluster,
    ConsoleTenancy,
    Person,
    kwok_node,
    person,
    provision_tenant,
    stratus_object,
)


def signed_in(console: ConsoleProcess, who: Person) -> httpx.Client:
    """A browser session of `who`: the sign-in form's cookie, then their token."""
    client = httpx.Client(base_url=console.url, timeout=30)
    client.get("/login")
    answer = client.post("/login", data={"token": who.token}, headers=changing(client))
    assert answer.headers.get("hx-redirect") == "/", answer.text
    return client


def changing(client: httpx.Client) -> dict[str, str]:
    """The headers the console's script sends with a change: htmx's and the CSRF token."""
    return {"x-csrftoken": client.cookies["csrftoken"], "hx-request": "true"}


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def anonymous(console: ConsoleProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console.url, timeout=30) as client:
        yield client


def test_a_person_signs_in_with_their_token_and_out_again(
    cluster: Cluster, console: ConsoleProcess, anonymous: httpx.Client, name: str
) -> None:
    assert anonymous.get("/").headers["location"] == "/login"
    anonymous.get("/login")
    refused = anonymous.post("/login", data={"token": "not-a-token"}, headers=changing(anonymous))
    assert refused.status_code == 422
    assert refused.text == "The API server refused this token."
    who = person(cluster, name)
    client = signed_in(console, who)
    session = client.cookies["stratus_session"]
    assert who.token not in session, "the session cookie must not show the token"
    home = client.get("/", follow_redirects=True)
    assert "No Project yet" in home.text
    assert f'<li id="person">{who.username}</li>' in home.text
    client.post("/logout", headers=changing(client))
    assert client.get("/").headers["location"] == "/login"


def test_a_change_without_the_csrf_header_is_refused(anonymous: httpx.Client) -> None:
    anonymous.get("/login")
    assert anonymous.post("/login", data={"token": "x"}).status_code == 403


def test_pages_keep_the_browser_to_the_consoles_own_scripts(anonymous: httpx.Client) -> None:
    page = anonymous.get("/login")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    scripts = re.findall(r'<script src="([^"]+)"', page.text)
    assert scripts and all(s.startswith("/static/") for s in scripts)
    for script in scripts:
        assert anonymous.get(script).status_code == 200, script
    assert "<script>" not in page.text


def test_a_member_without_cluster_rights_finds_their_projects_and_no_other(
    cluster: Cluster, console: ConsoleProcess, console_tenancy: ConsoleTenancy
) -> None:
    t = console_tenancy
    member = t.member.username
    for verb, resource in (("list", "projects"), ("list", "namespaces"), ("get", "projects")):
        answer = cluster.kubectl("auth", "can-i", verb, resource, f"--as={member}", check=False)
        assert answer.stdout.strip() == "no", (verb, resource)
    client = signed_in(console, t.member)
    home = client.get("/")
    assert home.headers["location"] == f"/p/{t.project}/"
    overview = client.get(home.headers["location"])
    picker = re.findall(r'<option value="/p/([^/]+)/"', overview.text)
    assert picker == [t.project]
    assert client.get(f"/p/{t.other}/").status_code == 404
    assert "that you may see" in client.get("/p/no-such-project/").text


def test_a_reader_sees_no_change_and_a_forged_one_is_refused_by_kubernetes(
    cluster: Cluster, console: ConsoleProcess, console_tenancy: ConsoleTenancy
) -> None:
    t = console_tenancy
    cluster.apply(stratus_object("Volume", "read-only", {"size": "1Gi"}, t.project))
    reader = signed_in(console, t.reader)
    page = reader.get(f"/p/{t.project}/volumes")
    assert "read-only" in page.text
    for change in ("Create Volume", "Extend", "Delete", "hx-post"):
        assert change not in page.text.replace('hx-post="/logout"', ""), change
    forged = reader.post(
        f"/p/{t.project}/volumes/read-only/extend", data={"size": "2Gi"}, headers=changing(reader)
    )
    assert forged.status_code == 422
    assert 'volumes.stratus.io "read-only" is forbidden' in html.unescape(forged.text)
    volume = cluster.get("volume", "read-only", t.project)
    assert volume is not None and volume["spec"]["size"] == "1Gi"


def test_bucket_credentials_show_only_on_request_and_only_to_who_may_read_them(
    cluster: Cluster, console: ConsoleProcess, console_tenancy: ConsoleTenancy
) -> None:
    t = console_tenancy
    cluster.apply(stratus_object("Bucket", "notes", {}, t.project))
    cluster.wait("bucket/notes", "condition=Ready", t.project)
    secret = cluster.get("secret", "notes-credentials", t.project)
    assert secret is not None
    secret_key = base64.b64decode(secret["data"]["secretKey"]).decode()
    member = signed_in(console, t.member)
    listing = member.get(f"/p/{t.project}/buckets")
    assert "Show credentials" in listing.text
    assert secret_key not in listing.text
    shown = member.post(f"/p/{t.project}/buckets/notes/credentials", headers=changing(member))
    assert shown.status_code == 200
    assert shown.headers["cache-control"] == "no-store"
    assert f'data-key="secretKey">{secret_key}<' in shown.text
    reader = signed_in(console, t.reader)
    assert "Show credentials" not in reader.get(f"/p/{t.project}/buckets").text
    refused = reader.post(f"/p/{t.project}/buckets/notes/credentials", headers=changing(reader))
    assert 'secrets "notes-credentials" is forbidden' in html.unescape(refused.text)


def test_the_admin_pages_are_for_administrators_only(
    cluster: Cluster, console: ConsoleProcess, console_tenancy: ConsoleTenancy
) -> None:
    t = console_tenancy
    admin = signed_in(console, t.cloud_admin)
    hypervisors = admin.get("/admin/hypervisors")
    assert hypervisors.status_code == 200
    assert {"node-1", "node-2", "node-3"} <= set(
        re.findall(r'id="hypervisor-([^"]+)"', hypervisors.text)
    )
    assert t.project in admin.get("/admin/projects").text
    flavor = {"name": f"{t.project}-admin-made", "vcpus": "2", "memory": "2Gi", "public": "on"}
    made = admin.post("/admin/flavors", data=flavor, headers=changing(admin))
    assert made.headers.get("hx-redirect") == "/admin/flavors", made.text
    assert cluster.get("flavor", flavor["name"])["spec"] == {
        "vcpus": 2, "memory": "2Gi", "public": True, "dedicatedCpu": False
    }  # fmt: skip
    member = signed_in(console, t.member)
    assert "/admin/hypervisors" not in member.get(f"/p/{t.project}/").text
    refused = member.get("/admin/hypervisors")
    assert refused.status_code == 403
    assert "cannot list resource" in refused.text
    forged = member.post("/admin/flavors", data=flavor | {"name": "x"}, headers=changing(member))
    assert "flavors.stratus.io is forbidden" in html.unescape(forged.text)


def test_the_servers_page_reads_each_kind_once_however_many_servers(
    cluster: Cluster, console: ConsoleProcess, name: str
) -> None:
    """One LIST of Servers and one of Volumes, never a request per Server: the same number of
    requests for 2 Servers as for 12."""
    who = person(cluster, name)
    provision_tenant(cluster, name, {}, None, "10.62.0.0/24", [who.member("member")])
    client = signed_in(console, who)

    def requests_of_one_page() -> dict[tuple[str, str], float]:
        before = console.api_requests()
        assert client.get(f"/p/{name}/servers").status_code == 200
        after = console.api_requests()
        return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}

    def servers(count: int) -> None:
        cluster.apply(
            "\n---\n".join(
                stratus_object("Server", f"s{i}", {"flavor": "none", "image": "cirros"}, name)
                for i in range(count)
            )
        )

    servers(2)
    few = requests_of_one_page()
    servers(12)
    many = requests_of_one_page()
    assert many == few
    assert many[("list", "servers")] == 1
    assert many[("list", "volumes")] == 1
    assert ("get", "servers") not in many


def test_a_page_follows_its_objects_live(
    cluster: Cluster, console: ConsoleProcess, console_tenancy: ConsoleTenancy
) -> None:
    """The page's event stream says `changed` when an object it shows changes."""
    t = console_tenancy
    client = signed_in(console, t.member)
    listed = cluster.kubectl(
        "get", "--raw", f"/apis/stratus.io/v1alpha1/namespaces/{t.project}/volumes"
    ).stdout
    since = json.loads(listed)["metadata"]["resourceVersion"]
    url = f"/p/{t.project}/live?watch=volumes&since={since}"
    with client.stream("GET", url) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == "retry: 2000"
        cluster.apply(stratus_object("Volume", "live-one", {"size": "1Gi"}, t.project))
        assert "event: changed" in [next(lines) for _ in range(3)]


def test_the_consoles_own_account_may_read_nothing_of_tenants(cluster: Cluster) -> None:
    account = "system:serviceaccount:stratus-system:stratus-dashboard"
    for verb, resource in (
        ("list", "servers.stratus.io"),
        ("get", "secrets"),
        ("list", "projects.stratus.io"),
        ("list", "namespaces"),
    ):
        answer = cluster.kubectl(
            "auth", "can-i", verb, resource, "-A", f"--as={account}", check=False
        )
        assert answer.stdout.strip() == "no", (verb, resource)
    deployment = json.loads(
        cluster.kubectl(
            "get", "deployment", "stratus-dashboard", "-n", "stratus-system", "-o", "json"
        ).stdout
    )
    assert deployment["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def confirm_resize_in_console(
    cluster: Cluster,
    member: httpx.Client,
    submit: Callable[..., httpx.Response],
    ns: str,
    name: str,
) -> None:
    """A resized Server offers Confirm and Revert, and no other resize nor a reboot, until one
    is chosen."""
    cluster.wait(f"server/{name}", "jsonpath={.status.phase}=VerifyResize", ns, timeout=120)
    page = member.get(f"/p/{ns}/servers/{name}").text
    assert f"/{name}/confirm-resize" in page and f"/{name}/revert-resize" in page
    assert f"/{name}/resize" not in page and f"/{name}/reboot" not in page
    submit(f"servers/{name}/confirm-resize")
    cluster.wait(f"server/{name}", "jsonpath={.status.phase}=Active", ns, timeout=60)
    assert "has no resize to revert" in submit(f"servers/{name}/revert-resize").text


def test_every_form_and_action_of_a_member_reaches_the_api_server(
    cluster: Cluster, console: ConsoleProcess, console_tenancy: ConsoleTenancy
) -> None:
    """What the browser tests do not click: each form and action, as the member sends it,
    becomes the object or change a kubectl user would make, and each page draws it."""
    t, ns = console_tenancy, console_tenancy.project
    member = signed_in(console, t.member)

    def submit(path: str, **form: str) -> httpx.Response:
        answer = member.post(f"/p/{ns}/{path}", data=form, headers=changing(member))
        assert answer.status_code == 200, (path, answer.text)
        return answer

    submit("keypairs", name="laptop", publicKey=PUBLIC_KEY)
    submit("securitygroups", name="db", description="the database", direction="ingress",
           protocol="tcp", portRangeMin="5432", remote="default")  # fmt: skip
    submit("securitygroups/db/add-rule", direction="ingress", protocol="icmp", remote="10.0.0.0/8")
    submit("securitygroups/db/add-rule", direction="egress", protocol="any")
    submit("securitygroups/db/remove-rule", index="2")
    rules = cluster.get("securitygroup", "db", ns)["spec"]["rules"]
    assert rules == [
        {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "portRangeMin": 5432,
         "remoteGroup": "default"},
        {"direction": "ingress", "ethertype": "IPv4", "protocol": "icmp",
         "remoteIpPrefix": "10.0.0.0/8"},
    ]  # fmt: skip
    cluster.wait("securitygroup/db", "condition=Ready", ns)
    assert "not enforced" in member.get(f"/p/{ns}/securitygroups").text
    submit("servergroups", name="spread", policy="anti-affinity")
    submit("images", name="disk", sourceType="registry", location="docker://quay.io/x/y:1")
    submit("volumes", name="data", size="1Gi", source="")
    cluster.wait("keypair/laptop", "condition=Ready", ns)
    assert "SHA256:" in member.get(f"/p/{ns}/keypairs").text
    assert "spread" in member.get(f"/p/{ns}/servergroups").text
    assert cluster.get("image", "disk", ns)["spec"]["source"] == {
        "registry": "docker://quay.io/x/y:1"
    }
    cluster.wait("volume/data", "condition=Ready", ns)

    submit("volumes/data/extend", size="2Gi")
    submit("volumes/data/snapshot", name="data-snap", volume="data")
    cluster.wait("snapshot/data-snap", "condition=Ready", ns)
    submit("volumes", name="copy", size="2Gi", source="snapshot", snapshot="data-snap")
    assert cluster.get("volume", "data", ns)["spec"]["size"] == "2Gi"
    assert cluster.get("volume", "copy", ns)["spec"]["source"] == {"snapshot": "data-snap"}
    assert "data-snap" in member.get(f"/p/{ns}/snapshots").text

    cluster.apply(stratus_object("Server", "formed", {"flavor": t.small, "image": "cirros"}, ns))
    cluster.wait("server/formed", "condition=Ready", ns, timeout=120)
    submit("volumes/data/attach", server="formed")
    assert cluster.get("server", "formed", ns)["spec"]["volumes"] == ["data"]
    submit("servers/formed/detach", volume="data")
    assert cluster.get("server", "formed", ns)["spec"]["volumes"] == []
    submit("servers/formed/reboot")
    assert cluster.get("server", "formed", ns)["spec"]["rebootRequestedAt"]
    page = member.get(f"/p/{ns}/servers/formed").text
    assert "/formed/reboot" in page
    assert f"<option>{t.large}</option>" in page and f"<option>{t.small}</option>" not in page
    submit("servers/formed/resize", flavor=t.large)
    assert cluster.get("server", "formed", ns)["spec"]["flavor"] == t.large
    confirm_resize_in_console(cluster, member, submit, ns, "formed")
    submit("servers/formed/shelve")
    assert cluster.get("server", "formed", ns)["spec"]["powerState"] == "Shelved"
    for path in ("servers/formed", "volumes/copy", "snapshots/data-snap", "images/disk",
                 "keypairs/laptop", "servergroups/spread", "securitygroups/db"):  # fmt: skip
        assert "is being deleted" in submit(f"{path}/delete").text
    for gone in ("keypair/laptop", "servergroup/spread", "image/disk", "snapshot/data-snap",
                 "securitygroup/db"):  # fmt: skip
        cluster.wait(gone, "delete", ns)


def test_a_member_backs_a_volume_up_and_restores_it_from_the_console(
    cluster: Cluster, console: ConsoleProcess, console_tenancy: ConsoleTenancy
) -> None:
    ns = console_tenancy.project
    cluster.apply(stratus_object("Volume", "records", {"size": "2Gi"}, ns))
    cluster.apply(stratus_object("Bucket", "vault", {}, ns))
    cluster.wait("volume/records", "condition=Ready", ns)
    cluster.wait("bucket/vault", "condition=Ready", ns)
    member = signed_in(console, console_tenancy.member)
    form = member.get(f"/p/{ns}/volumebackups").text
    assert "<option>records</option>" in form and "<option>vault</option>" in form

    def submit(path: str, **fields: str) -> None:
        answer = member.post(f"/p/{ns}/{path}", data=fields, headers=changing(member))
        assert answer.status_code == 200, (path, answer.text)

    submit("volumebackups", name="records-backup", volume="records", bucket="vault",
           description="before the upgrade")  # fmt: skip
    cluster.wait("volumebackup/records-backup", "condition=Ready", ns)
    backups = member.get(f"/p/{ns}/volumebackups").text
    assert "before the upgrade" in backups and "2 GiB" in backups and "full" in backups
    assert "<option>records-backup</option>" in member.get(f"/p/{ns}/volumes").text
    submit("volumes", name="records-again", size="2Gi", source="backup", backup="records-backup")
    cluster.wait("volume/records-again", "condition=Ready", ns)
    restored = cluster.get("volume", "records-again", ns)
    assert restored["status"]["restoredFrom"] == "records-backup"
    submit("volumebackups/records-backup/delete")
    cluster.wait("volumebackup/records-backup", "delete", ns)


def test_a_member_retypes_a_volume_and_an_administrator_migrates_a_server(
    cluster: Cluster, console: ConsoleProcess, console_tenancy: ConsoleTenancy
) -> None:
    t, ns = console_tenancy, console_tenancy.project
    member = signed_in(console, t.member)
    admin = signed_in(console, t.cloud_admin)
    cluster.apply(stratus_object("Volume", "tiered", {"size": "1Gi"}, ns))
    cluster.apply(stratus_object("Server", "roamer", {"flavor": t.small, "image": "cirros"}, ns))
    cluster.wait("server/roamer", "condition=Ready", ns, timeout=120)
    retyped = member.post(
        f"/p/{ns}/volumes/tiered/retype", data={"volumeType": "fast"}, headers=changing(member)
    )
    assert retyped.status_code == 200, retyped.text
    cluster.wait("volume/tiered", "jsonpath={.status.volumeType}=fast", ns)
    # Live migration is for administrators, as in Nova: a member has no button, and a
    # forged request is refused by the API server's admission policy.
    assert "/roamer/migrate" not in member.get(f"/p/{ns}/servers/roamer").text
    forged = member.post(f"/p/{ns}/servers/roamer/migrate", headers=changing(member))
    assert "only cluster administrators may live-migrate a Server" in html.unescape(forged.text)
    assert "/roamer/migrate" in admin.get(f"/p/{ns}/servers/roamer").text
    moved = admin.post(f"/p/{ns}/servers/roamer/migrate", headers=changing(admin))
    assert moved.status_code == 200, moved.text
    cluster.wait("server/roamer", "jsonpath={.status.migration.phase}=Succeeded", ns, 90)
    assert "Succeeded: " in admin.get(f"/p/{ns}/servers/roamer").text
    cluster.kubectl("delete", "server/roamer", "volume/tiered", "-n", ns, "--wait=false")


def test_a_member_routes_and_points_a_floating_ip_from_the_console(
    cluster: Cluster, console: ConsoleProcess, console_tenancy: ConsoleTenancy
) -> None:
    t, ns = console_tenancy, console_tenancy.project
    outside = f"{ns}-public"
    cluster.kubectl("create", "namespace", outside)
    subnet = {"cidr": "198.51.100.0/24", "gateway": "198.51.100.1"}
    external = {"hostInterface": "br-ex", "external": True, "subnet": subnet}
    cluster.apply(stratus_object("Network", "ext", external, outside))
    cluster.apply(
        stratus_object(
            "Server",
            "routed",
            {"flavor": t.small, "image": "cirros", "networks": [{"network": "lan"}]},
            ns,
        )
    )
    member = signed_in(console, t.member)

    def submit(path: str, **form: str | list[str]) -> httpx.Response:
        answer = member.post(f"/p/{ns}/{path}", data=form, headers=changing(member))
        assert answer.status_code == 200, (path, answer.text)
        return answer

    submit("routers", name="edge", externalGateway=f"{outside}/ext", interfaces=["lan"], snat="on")
    assert cluster.get("router", "edge", ns)["spec"] == {
        "externalGateway": {"network": f"{outside}/ext"},
        "interfaces": [{"network": "lan"}],
        "snat": True,
    }
    submit("floatingips", name="pub", network=f"{outside}/ext")
    cluster.wait("floatingip/pub", "condition=Ready", ns, timeout=90)
    cluster.wait("server/routed", "condition=Ready", ns, timeout=120)
    submit("floatingips/pub/associate", server="routed")
    cluster.wait("floatingip/pub", "jsonpath={.status.phase}=Active", ns, timeout=90)
    page = member.get(f"/p/{ns}/floatingips").text
    assert "via edge" in page and "Disassociate" in page
    assert "198.51.100." in member.get(f"/p/{ns}/routers").text
    submit("floatingips/pub/disassociate")
    cluster.wait("floatingip/pub", "jsonpath={.status.phase}=Down", ns, timeout=90)
    assert "server" not in cluster.get("floatingip", "pub", ns)["spec"]
    forwarding = {"network": f"{outside}/ext", "server": "routed",
                  "portForwardings": [{"externalPort": 443, "internalPort": 8443}]}  # fmt: skip
    cluster.apply(stratus_object("FloatingIP", "forwarded", forwarding, ns))
    cluster.wait("floatingip/forwarded", "condition=Ready", ns, timeout=90)
    assert "routed: TCP 443&rarr;8443 via Service fip-forwarded" in (
        member.get(f"/p/{ns}/floatingips").text
    )

    submit(
        "loadbalancers", name="front", vipNetwork="lan", protocol="TCP", port="80",
        members=["routed"], algorithm="SOURCE_IP", healthMonitor="HTTP", healthPath="/",
    )  # fmt: skip
    assert cluster.get("loadbalancer", "front", ns)["spec"] == {
        "vip": {"network": "lan"},
        "listeners": [{"protocol": "TCP", "port": 80}],
        "pool": {"members": ["routed"], "algorithm": "SOURCE_IP"},
        "healthMonitor": {"type": "HTTP", "path": "/", "delaySeconds": 5, "timeoutSeconds": 3,
                          "maxRetries": 3},
    }  # fmt: skip
    cluster.wait("loadbalancer/front", "jsonpath={.status.operatingStatus}=ONLINE", ns, timeout=90)
    assert "ONLINE" in member.get(f"/p/{ns}/loadbalancers").text
    for path in ("loadbalancers/front", "floatingips/pub", "floatingips/forwarded", "routers/edge",
                 "servers/routed"):  # fmt: skip
        submit(f"{path}/delete")


def test_an_administrator_takes_a_node_out_of_service_and_back_from_the_console(
    cluster: Cluster, console: ConsoleProcess, console_tenancy: ConsoleTenancy
) -> None:
    node = f"hv-{console_tenancy.project}"
    cluster.apply(kwok_node(node))
    try:
        admin = signed_in(console, console_tenancy.cloud_admin)
        asked = admin.post(f"/admin/hypervisors/{node}/maintenance", headers=changing(admin))
        assert asked.headers.get("hx-redirect") == "/admin/hypervisors", asked.text
        cluster.wait(f"hostmaintenance/maintenance-{node}", "condition=Ready", timeout=60)
        assert cluster.get("node", node)["spec"]["unschedulable"] is True
        row = re.search(
            rf'id="hypervisor-{node}".*?</tr>', admin.get("/admin/hypervisors").text, re.S
        )
        assert row is not None and "InMaintenance" in row.group(0)
        assert "Back in service" in row.group(0)
        member = signed_in(console, console_tenancy.member)
        forged = member.post(f"/admin/hypervisors/{node}/maintenance", headers=changing(member))
        assert "hostmaintenances.stratus.io is forbidden" in html.unescape(forged.text)

        back = admin.post(f"/admin/hypervisors/{node}/in-service", headers=changing(admin))
        assert back.headers.get("hx-redirect") == "/admin/hypervisors", back.text
        cluster.wait_until(
            "the node back in service",
            lambda: not cluster.get("node", node)["spec"].get("unschedulable"),
        )
        assert cluster.get("hostmaintenance", f"maintenance-{node}") is None
    finally:
        cluster.kubectl("delete", "hostmaintenance", f"maintenance-{node}", "--ignore-not-found")
        cluster.kubectl("delete", "node", node)
