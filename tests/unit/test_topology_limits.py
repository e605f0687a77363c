"""Hostile and oversized topology files (issue 14 items 2, 6 and 7): refused in one line, quickly."""
import os
import threading
import time

import pytest
import yaml
from test_topology import EXAMPLE, edit, error, expect

from testbed.fabric import underlay
from testbed.fabric.names import Names
from testbed.topology import TopologyError, limits, load, loads, vpc_format

RULES = """\
    security_groups:
      web:
        inbound:
          - {protocol: tcp, ports: PORTS, from: 0.0.0.0/0}
"""


def with_rule(ports):
    return edit("    account: alice\n    cidr: 10.0.0.0/16\n",
                "    account: alice\n    cidr: 10.0.0.0/16\n" + RULES.replace("PORTS", ports))


def refused(path):
    with pytest.raises(TopologyError) as info:
        load(path)
    assert "\n" not in str(info.value)
    return str(info.value)


# --- files -----------------------------------------------------------------------------------------

def test_an_empty_path_is_named():
    assert refused("") == "no topology file given (the path is empty); name a topology .yaml file"


def test_devices_are_refused_before_reading():
    assert refused("/dev/zero") == ("/dev/zero: is not a regular file (a pipe, a device or a socket); "
                                    "name a topology .yaml file")


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "t.yaml"
    os.mkfifo(fifo)
    result = []
    reader = threading.Thread(target=lambda: result.append(refused(fifo)), daemon=True)
    reader.start()
    reader.join(5)
    assert result == [f"{fifo}: is not a regular file (a pipe, a device or a socket); name a topology .yaml file"]


def test_files_over_the_size_limit_are_refused_quickly(tmp_path):
    big = tmp_path / "big.yaml"
    comment = "# " + "x" * 1021 + "\n"
    big.write_text(EXAMPLE + comment * (limits.MAX_FILE_BYTES // len(comment) + 1))
    start = time.monotonic()
    assert refused(big) == (f"{big}: is larger than 4 MiB, the limit for a topology file; a topology needs far "
                            f"less (docs/topology-format.md)")
    assert time.monotonic() - start < 1
    with pytest.raises(TopologyError, match="is larger than 4 MiB"):
        loads(big.read_text(), str(big))
    big.write_text(EXAMPLE + comment * 1000)  # 1 MiB of comments is fine
    assert load(big).name == "two-tenants"


# --- numbers ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("written, why", [
    ("2:30:00", "'2:30:00' is not a plain decimal number"),     # YAML 1.1 reads 9000, base 60
    ("0x2328", "'0x2328' is not a plain decimal number"),
    ("011000", "'011000' is not a plain decimal number"),      # YAML 1.1 reads octal
    ("9_000", "'9_000' is not a plain decimal number"),
])
def test_whole_numbers_are_plain_decimal(written, why):
    expect(edit("mtu: 9001", f"mtu: {written}"), "mtu:", "mtu",
           f"{why} (YAML would read it as another base or a time); write it with the digits 0-9 only and no "
           f"leading zero, like 1280")


def test_thousands_of_digits_are_out_of_range():
    expect(edit("mtu: 9001", "mtu: " + "9" * 5000), "mtu:", "mtu",
           "999999999999... (5000 digits) is out of range; use a whole number from 1280 to 9001")


def test_ports_with_thousands_of_digits_are_refused():
    text = with_rule("8" * 5000)
    expect(text, "ports:", "vpcs.blue.security_groups.web.inbound[0].ports",
           "888888888888... (5000 digits) is not a port; ports go from 0 to 65535")
    expect(with_rule("80-" + "8" * 5000), "ports:", "vpcs.blue.security_groups.web.inbound[0].ports",
           "888888888888... (5000 digits) is not a port; ports go from 0 to 65535")
    expect(with_rule("70000"), "ports:", "vpcs.blue.security_groups.web.inbound[0].ports",
           "70000 is not a port; ports go from 0 to 65535")


@pytest.mark.parametrize("ports", ["\u0668\u0660", "80-\u0668\u0660", "\uff18\uff10"])   # Arabic-Indic, full-width
def test_ports_take_ascii_digits_only(ports):
    expect(with_rule(ports), "ports:", "vpcs.blue.security_groups.web.inbound[0].ports",
           f"{ports!r} is not a port or port range; write it like 80 or 1024-65535")


def test_protocol_numbers_take_ascii_digits_only():
    text = with_rule("80").replace("protocol: tcp, ports: 80", "protocol: \u0666")
    assert "is not a protocol" in error(text)


# --- the fabric --------------------------------------------------------------------------------------

def test_limits_match_the_fabric():
    # ToR port i is host i's cable, ToR port UPLINK_BASE + k the uplink to spine k.
    assert underlay.UPLINK_BASE >= limits.MAX_HOSTS
    assert underlay.UPLINK_BASE + limits.MAX_SPINES < 0xff00   # OpenFlow's reserved ports start there
    names = Names("vl_")
    racks = limits.MAX_HOSTS                                   # a rack has at least one host
    assert len(names.uplink(racks, limits.MAX_SPINES)) <= 15 and len(names.downlink(limits.MAX_SPINES, racks)) <= 15
    assert len(names.spine(limits.MAX_SPINES)) <= 15
    assert limits.MAX_ENIS == 2 ** 16 - 1                        # conntrack zones are 16 bits, 0 is the host's


def test_more_instances_than_conntrack_zones_are_refused(monkeypatch):
    monkeypatch.setattr(vpc_format, "MAX_ENIS", 4)
    expect(EXAMPLE, "green-1:", "vpcs.green.instances.green-1",
           "this would be instance 5, but each instance's ENI needs a conntrack zone of its own (16 bits, zone 0 "
           "is the host's), so at most 4; use fewer instances")


# --- VPCs ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cidr, block, why", [
    ("100.127.0.0/16", "100.127.0.0/16", "the lab's underlay (physical host addresses)"),
    ("127.0.0.0/16", "127.0.0.0/8", "loopback"),
    ("224.1.0.0/16", "224.0.0.0/4", "multicast"),
    ("250.0.0.0/16", "240.0.0.0/4", "reserved (class E)"),
    ("0.0.0.0/16", "0.0.0.0/8", "'this network'"),
    ("169.254.0.0/16", "169.254.0.0/16", "link-local (instance metadata and DNS)"),
])
def test_vpc_cidrs_stay_out_of_reserved_blocks(cidr, block, why):
    text = edit("    cidr: 10.1.0.0/16", f"    cidr: {cidr}").replace("10.1.1.0/24", cidr.replace("/16", "/24"))
    expect(text, f"cidr: {cidr}", "vpcs.green.cidr",
           f"{cidr} overlaps {block}, {why}, which no VPC may use; pick a private block such as 10.0.0.0/16, "
           f"172.16.0.0/16 or 192.168.0.0/16")


def test_thousands_of_subnets_are_checked_quickly():
    subnets = {f"s{n}": {"cidr": f"10.0.{n // 16}.{n % 16 * 16}/28", "az": "az1"} for n in range(4096)}
    doc = {"fabric": {"azs": {"az1": {"racks": {"r1": {"hosts": 1}}}}},
           "vpcs": {"v": {"cidr": "10.0.0.0/16", "subnets": subnets}}}
    start = time.monotonic()
    assert len(loads(yaml.safe_dump(doc)).vpcs["v"].subnets) == 4096
    assert time.monotonic() - start < 5
    subnets["late"] = {"cidr": "10.0.128.0/17", "az": "az1"}  # overlaps s2048 to s4095: the first is named
    text = yaml.safe_dump(doc, sort_keys=False)
    assert error(text).endswith("vpcs.v.subnets.late.cidr: 10.0.128.0/17 overlaps subnet s2048 (10.0.128.0/28, "
                                f"line {text.splitlines().index('      s2048:') + 2}); pick a block that does "
                                f"not overlap it")


def test_a_nat_target_must_name_a_nat_gateway_of_its_vpc():
    text = edit("    cidr: 10.1.0.0/16\n", "    cidr: 10.1.0.0/16\n    route_tables:\n      out:\n"
                "        subnets: [green-a]\n        routes:\n          - {destination: 0.0.0.0/0, target: nat:ngw}\n")
    expect(text, "target: nat:ngw", "vpcs.green.route_tables.out.routes[0].target",
           "nat:ngw is not a NAT gateway of vpc green; define it first (there are none yet)")


# --- the topology name ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, shown", [
    ("/../../etc/x", "'/../../etc/x'"), ('"a\\0b"', "'a\\x00b'"), ("Two_Tenants", "'Two_Tenants'"),
    ("x" * 5000, repr("x" * 40 + "...")), ("x" * 64, repr("x" * 40 + "...")),
])
def test_the_topology_name_is_safe_for_paths(name, shown):
    expect(edit("name: two-tenants", f"name: {name}"), "name:", "name",
           f"{shown} is not a valid topology name; use at most 63 lower-case letters, digits and '-', starting "
           f"with a letter or digit, like two-tenants")
    assert loads(edit("name: two-tenants", "name: " + "x" * 63)).name == "x" * 63


def test_a_default_name_is_made_safe(tmp_path):
    assert loads(EXAMPLE.replace("name: two-tenants\n", ""), "labs/My_Lab.v2.yaml").name == "my-lab-v2"
    assert loads(EXAMPLE.replace("name: two-tenants\n", "")).name == "string"
    assert loads(EXAMPLE.replace("name: two-tenants\n", ""), "/tmp/___.yaml").name == "topology"


# --- peerings: one destination, one peering (issue 14 item 2) ----------------------------------------

HUB = """\
fabric:
  azs:
    az1:
      racks:
        r1: {hosts: 2}
vpcs:
  hub:
    cidr: 10.0.0.0/16
    subnets:
      hub-a: {cidr: 10.0.1.0/24, az: az1}
      hub-b: {cidr: 10.0.2.0/24, az: az1}
    instances:
      h1: {subnet: hub-a}
  s1:
    cidr: 10.1.0.0/16
    subnets:
      s1-a: {cidr: 10.1.1.0/24, az: az1}
    instances:
      a1: {subnet: s1-a, ip: 10.1.1.10}
  s2:
    cidr: 10.1.0.0/16
    subnets:
      s2-a: {cidr: 10.1.1.0/24, az: az1}
    instances:
      b1: {subnet: s2-a, ip: 10.1.1.10}
peering:
  - {name: hub-s1, vpcs: [hub, s1]}
  - {name: hub-s2, vpcs: [hub, s2]}
"""

TABLES = """\
    route_tables:
      to-s1:
        subnets: [hub-a]
        routes:
          - {destination: 10.1.0.0/16, target: pcx:hub-s1}
      to-s2:
        subnets: [SUBNETS]
        routes:
          - {destination: 10.1.0.0/16, target: pcx:hub-s2}
"""


def test_two_peerings_for_one_destination_are_refused():
    expect(HUB, "name: hub-s2", "peering[1].vpcs",
           "the main route table of vpc hub, which routes to every peered VPC, would send 10.1.0.0/16 to both "
           "peering hub-s1 and peering hub-s2 (the same prefix, so neither wins) and AWS refuses such ambiguous "
           "routes; give subnets hub-a, hub-b a route table that sends each address to one peering, with more "
           "specific routes such as {destination: 10.1.0.0/17, target: pcx:hub-s1} and "
           "{destination: 10.1.128.0/17, target: pcx:hub-s2}")
    # one subnet left to the main table is enough to be ambiguous
    text = edit("      h1: {subnet: hub-a}\n", "      h1: {subnet: hub-a}\n" + TABLES.replace(
        "      to-s2:\n        subnets: [SUBNETS]\n        routes:\n          - {destination: 10.1.0.0/16, "
        "target: pcx:hub-s2}\n", ""), HUB)
    assert "give subnets hub-b a route table" in error(text)


def test_route_tables_that_pick_one_peering_are_accepted_and_exposed():
    tables = TABLES.replace("SUBNETS", "hub-b")
    t = loads(edit("      h1: {subnet: hub-a}\n", "      h1: {subnet: hub-a}\n" + tables, HUB))
    hub = t.vpcs["hub"]
    assert hub.peering_routes() == {"hub-a": (("10.1.0.0/16", "hub-s1"),), "hub-b": (("10.1.0.0/16", "hub-s2"),)}
    assert hub.peering_for("hub-a", "10.1.1.10") == "hub-s1" and hub.peering_for("hub-b", "10.1.1.10") == "hub-s2"
    assert t.peered_vpc_for("hub", "hub-a", "10.1.1.10") == "s1"
    assert t.peered_vpc_for("hub", "hub-b", "10.1.1.10") == "s2"
    assert t.peered_vpc_for("hub", "hub-a", "10.0.1.5") is None       # local
    assert t.peered_vpc_for("s1", "s1-a", "10.0.1.5") == "hub"        # the spokes' main tables


def test_different_prefixes_are_routed_by_the_longest_one():
    t = loads(HUB.replace("  s2:\n    cidr: 10.1.0.0/16", "  s2:\n    cidr: 10.1.1.0/24"))
    hub = t.vpcs["hub"]
    assert hub.peering_routes()["hub-a"] == (("10.1.1.0/24", "hub-s2"), ("10.1.0.0/16", "hub-s1"))
    assert hub.peering_for("hub-a", "10.1.1.10") == "hub-s2" and hub.peering_for("hub-a", "10.1.2.10") == "hub-s1"
