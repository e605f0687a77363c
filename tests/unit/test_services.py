"""The VPC services' address scheme and their state: made from the topology, carried as JSON,
changed by update messages."""
import json
import os

import pytest

from testbed.services.addresses import (
    AddressError,
    check_no_collision,
    dns_server_ip,
    domain_name,
    eni_address,
    eni_ident,
    private_hostname,
    service_addresses,
)
from testbed.services.state import ServiceState, StateError, file_order_idents
from testbed.topology import load, loads
from testbed.topology.model import TopologyError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def edge():
    return load(os.path.join(ROOT, "topologies", "edge.yaml"))


def test_eni_addresses_cover_16_bits_one_to_one():
    assert eni_address(1) == "100.126.0.1"
    assert eni_address(256) == "100.126.1.0"
    assert eni_address(65535) == "100.126.255.255"
    assert all(eni_ident(eni_address(i)) == i for i in (1, 2, 255, 256, 4097, 65535))
    assert len({eni_address(i) for i in range(1, 65536)}) == 65535


@pytest.mark.parametrize("bad", [0, -1, 65536, "1", 1.0, None])
def test_eni_address_refuses_what_is_no_ident(bad):
    with pytest.raises(AddressError):
        eni_address(bad)


@pytest.mark.parametrize("address", ["100.126.0.0", "100.127.0.1", "10.0.1.10", "169.254.169.254", "nonsense", ""])
def test_eni_ident_of_other_addresses_is_none(address):
    assert eni_ident(address) is None


def test_names_and_addresses_as_aws_gives_them():
    assert domain_name("us-east-1") == "ec2.internal"
    assert domain_name("eu-west-1") == "eu-west-1.compute.internal"
    assert private_hostname("10.0.1.10", "us-east-1") == "ip-10-0-1-10.ec2.internal"
    assert private_hostname("10.0.1.10", "ap-south-1") == "ip-10-0-1-10.ap-south-1.compute.internal"
    assert dns_server_ip("10.1.0.0/16") == "10.1.0.2"
    assert service_addresses(["10.0.0.0/16", "10.0.0.0/16", "10.1.0.0/16"]) == (
        "169.254.169.253", "10.0.0.2", "10.1.0.2")


def test_a_vpc_in_the_eni_block_is_refused():
    check_no_collision(["10.0.0.0/16", "100.64.0.0/16", "100.127.0.0/16"])
    for cidr in ("100.126.0.0/16", "100.126.7.0/24", "100.64.0.0/10"):
        with pytest.raises(AddressError, match="100.126.0.0/16"):
            check_no_collision([cidr])
    with pytest.raises(TopologyError, match="100.126.0.0/16, the lab's VPC-service addresses"):
        loads("fabric: {azs: {use1-az1: {racks: {r1: {hosts: 1}}}}}\n"
              "vpcs: {v: {cidr: 100.126.0.0/16, subnets: {a: {cidr: 100.126.1.0/24, az: use1-az1}},"
              " instances: {i1: {subnet: a}}}}\n")


def test_state_from_the_topology(edge):
    state = ServiceState.from_topology(edge)
    idents = file_order_idents(edge)
    assert sorted(state.enis) == list(range(1, len(edge.instances()) + 1))
    web = state.by_instance("web-1")
    inst = edge.instance("web-1")
    assert web.ident == idents["web-1"] == 1
    assert (web.ip, web.mac, web.eni, web.instance_id) == ("10.0.1.10", inst.mac, inst.eni, inst.id)
    assert (web.vpc, web.vpc_cidr, web.subnet_cidr, web.az) == ("blue", "10.0.0.0/16", "10.0.1.0/24", "use1-az1")
    assert (web.http_tokens, web.hop_limit) == ("required", 1)
    assert web.public_ip == edge.vpcs["blue"].elastic_ips["web-eip"].address
    assert web.security_groups == ("default",) and web.security_group_ids[0].startswith("sg-")
    assert state.by_instance("red-web-1").public_ip is None
    assert state.internet == {"www.example.com": "198.51.100.10"}
    (zone,) = state.zones
    assert zone.name == "corp.internal" and zone.vpcs == ("blue",)
    assert {r.fqdn: (r.ip, r.instance) for r in zone.records} == {
        "db.corp.internal": (edge.instance("db-1").ip, "db-1"), "api.corp.internal": ("10.0.2.50", None)}


def test_state_goes_through_json_unchanged(edge):
    state = ServiceState.from_topology(edge, {i.name: 100 + n for n, i in enumerate(edge.instances())})
    again = ServiceState.from_json(state.to_json())
    assert again.to_dict() == state.to_dict() and again.enis == state.enis
    assert again.by_instance("web-1").ident == 100


@pytest.mark.parametrize("text", ["[]", "{}", '{"format": 2}', "not json", '{"format": 1, "enis": [{}]}',
                                  '{"format": 1, "region": "r", "enis": [{"bogus": 1}]}'])
def test_bad_state_files_are_refused(text):
    with pytest.raises(StateError):
        ServiceState.from_json(text)


def test_updates(edge):
    state = ServiceState.from_topology(edge)
    generation = state.generation
    assert "r1-h2" in state.apply({"op": "migrated", "instance": "web-1", "host": "r1-h2"})
    assert state.by_instance("web-1").host == "r1-h2" and state.generation == generation + 1
    state.apply({"op": "security_groups", "instance": "web-1", "groups": ["web", "admin"], "group_ids": ["sg-1"]})
    assert state.by_instance("web-1").security_groups == ("web", "admin")
    state.apply({"op": "elastic_ip", "instance": "web-1", "address": None})
    assert state.by_instance("web-1").public_ip is None
    record = json.loads(state.to_json())["enis"][0]
    state.apply({"op": "terminated", "instance": "web-1"})
    assert state.eni(1) is None
    state.apply({"op": "eni", "eni": dict(record, ident=999)})
    assert state.by_instance("web-1").ident == 999
    state.apply({"op": "state", "state": ServiceState.from_topology(edge).to_dict()})
    assert state.by_instance("web-1").ident == 1 and state.by_instance("web-1").host == edge.instance("web-1").host


@pytest.mark.parametrize("message", [{}, [], {"op": "reboot"}, {"op": "migrated", "instance": "web-1"},
                                     {"op": "migrated", "instance": "nobody", "host": "h"},
                                     {"op": "eni", "eni": {"ident": 1}}, {"op": "eni", "eni": "x"},
                                     {"op": "state", "state": {"format": 9}}])
def test_bad_updates_are_refused_and_change_nothing(edge, message):
    state = ServiceState.from_topology(edge)
    before = state.to_json()
    with pytest.raises(StateError):
        state.apply(message)
    assert state.to_json() == before
