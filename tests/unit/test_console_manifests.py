"""The console's forms become the manifests a user would write, with empty fields left out for
the API server's own defaults and validation."""

from stratus.dashboard import manifests
from stratus.dashboard.manifests import Form


def form(*pairs: tuple[str, str]) -> Form:
    fields = dict(pairs)
    lists: dict[str, list[str]] = {}
    for key, value in pairs:
        lists.setdefault(key, []).append(value)
    return Form(fields, lists)


def test_a_launch_form_becomes_a_server_with_only_what_was_filled_in() -> None:
    server = manifests.server(
        form(
            ("name", "web-1"),
            ("flavor", "m1.small"),
            ("source", "image"),
            ("image", "cirros"),
            ("bootVolume", "root"),
            ("networks", "lan"),
            ("networks", "db"),
            ("fixedIp.db", " 10.0.0.9 "),
            ("keyPair", ""),
            ("userData", "#cloud-config\n"),
        ),
        "acme",
    )
    assert server == {
        "apiVersion": "stratus.io/v1alpha1",
        "kind": "Server",
        "metadata": {"name": "web-1", "namespace": "acme"},
        "spec": {
            "flavor": "m1.small",
            "image": "cirros",
            "networks": [{"network": "lan"}, {"network": "db", "fixedIp": "10.0.0.9"}],
            "userData": "#cloud-config",
        },
    }


def test_a_server_from_a_boot_volume_names_no_image() -> None:
    spec = manifests.server(
        form(("name", "db"), ("source", "volume"), ("image", "cirros"), ("bootVolume", "root")),
        "acme",
    )["spec"]
    assert spec == {"bootVolume": "root"}


def test_a_volume_takes_the_one_source_chosen() -> None:
    chosen = form(
        ("name", "v"),
        ("size", "5Gi"),
        ("source", "snapshot"),
        ("image", "cirros"),
        ("snapshot", "nightly"),
    )
    assert manifests.volume(chosen, "acme")["spec"] == {
        "size": "5Gi",
        "source": {"snapshot": "nightly"},
    }
    empty = form(("name", "v"), ("size", "5Gi"), ("source", ""), ("image", "cirros"))
    assert manifests.volume(empty, "acme")["spec"] == {"size": "5Gi"}


def test_numbers_that_are_no_numbers_reach_the_api_server_as_written() -> None:
    network = manifests.network(
        form(("name", "lan"), ("cidr", "10.0.0.0/24"), ("vlan", "12"), ("mtu", "big")), "acme"
    )
    assert network["spec"]["vlan"] == 12
    assert network["spec"]["mtu"] == "big"
    assert "shared" not in network["spec"]


def test_a_network_pool_and_dns_servers() -> None:
    spec = manifests.network(
        form(
            ("name", "lan"),
            ("cidr", "10.0.0.0/24"),
            ("poolStart", "10.0.0.10"),
            ("poolEnd", "10.0.0.20"),
            ("dnsNameservers", "10.0.0.2, 10.0.0.3"),
            ("shared", "on"),
        ),
        "acme",
    )["spec"]
    assert spec["subnet"] == {
        "cidr": "10.0.0.0/24",
        "allocationPools": [{"start": "10.0.0.10", "end": "10.0.0.20"}],
        "dnsNameservers": ["10.0.0.2", "10.0.0.3"],
    }
    assert spec["shared"] is True


def test_attaching_keeps_the_other_volumes_and_guards_against_a_concurrent_change() -> None:
    server = {"metadata": {"resourceVersion": "42"}, "spec": {"volumes": ["a"]}}
    assert manifests.attach(server, "b") == [
        {"op": "test", "path": "/spec/volumes", "value": ["a"]},
        {"op": "replace", "path": "/spec/volumes", "value": ["a", "b"]},
    ]
    assert manifests.attach(server, "a")[1]["value"] == ["a"]
    assert manifests.detach(server, "a")[1]["value"] == []
    assert manifests.attach({"spec": {}}, "b") == [
        {"op": "add", "path": "/spec/volumes", "value": ["b"]}
    ]


def test_a_rule_form_names_its_far_end_by_its_shape() -> None:
    def far_end(remote: str) -> dict[str, object]:
        return manifests.security_rule(form(("direction", "ingress"), ("remote", remote)))

    assert far_end("10.0.0.0/8") == {"direction": "ingress", "remoteIpPrefix": "10.0.0.0/8"}
    assert far_end("web") == {"direction": "ingress", "remoteGroup": "web"}
    assert far_end("") == {"direction": "ingress"}
    group = {"spec": {"rules": [{"direction": "egress"}, {"direction": "ingress"}]}}
    assert manifests.remove_rule(group, 0)[1]["value"] == [{"direction": "ingress"}]


def test_a_bucket_says_what_its_checkboxes_say() -> None:
    spec = manifests.bucket(form(("name", "b"), ("versioning", "on"), ("quota", "1Gi")), "acme")[
        "spec"
    ]
    assert spec == {"versioning": True, "objectLock": False, "quota": "1Gi"}
