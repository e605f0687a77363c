"""Leaving the VPC in the topology format: outside networks, edge, Hyperplane, services, DNS, and each VPC's
gateways, endpoints and load balancers (shared/topology-format.md, "Leaving the VPC"); no root, no Mininet."""
import re
from pathlib import Path

import pytest
from test_topology import EXAMPLE, FILE, error, expect, fuzz, line_of
from test_topology import edit as topology_edit

from testbed.topology import load, loads
from testbed.topology.edge_model import (
    DnsRecord,
    Edge,
    HealthCheck,
    Hyperplane,
    InstanceMetadata,
    InternetHost,
    LbAddress,
    Listener,
)
from testbed.topology.model import Route
from testbed.topology.summary import resource_lines

EDGE_FILE = Path(__file__).resolve().parents[2] / "topologies" / "edge.yaml"
EDGE = EDGE_FILE.read_text()


def edit(old, new, text=EDGE):
    return topology_edit(old, new, text)


# --- what is accepted ----------------------------------------------------------------------------------

def test_edge_yaml_loads_with_every_part():
    t = load(EDGE_FILE)
    assert t.name == "edge"
    assert dict(t.outside.internet) == {"example-web": InternetHost("example-web", "198.51.100.10", "www.example.com")}
    corp = t.outside.sites["corp"]
    assert (corp.cidr, corp.hosts["corp-1"].ip, corp.gateway_ip) == ("192.168.0.0/16", "192.168.1.10", "192.168.0.1")
    assert (corp.vpn_router, corp.vpn_router_ip, corp.dx_router, corp.dx_router_ip) == \
        ("corp-vpn", "192.168.0.2", "corp-dx", "192.168.0.3")
    assert (t.edge, t.hyperplane) == (Edge(1), Hyperplane(4, 2))
    assert (t.services.s3_cidr, t.services.s3_host, t.services.s3_ip) == ("198.18.0.0/24", "s3", "198.18.0.10")
    zone = t.dns.private_zones["corp.internal"]
    assert zone.vpcs == ("blue",) and t.dns.zones_for("blue") == (zone,) and t.dns.zones_for("red") == ()
    assert dict(zone.records) == {"db": DnsRecord("db", "db.corp.internal", "10.0.1.4", "db-1"),
                                  "api": DnsRecord("api", "api.corp.internal", "10.0.2.50")}


def test_edge_yaml_vpc_gateways():
    t = load(EDGE_FILE)
    blue = t.vpcs["blue"]
    assert blue.internet_gateway.startswith("igw-") and blue.vpn_gateway.startswith("vgw-") and blue.dhcp
    assert t.vpcs["red"].internet_gateway is None and t.vpcs["red"].vpn_gateway is None and not t.vpcs["red"].dhcp
    web, nat_eip = blue.elastic_ips["web-eip"], blue.elastic_ips["nat-eip"]
    assert (web.address, web.instance, nat_eip.address, nat_eip.instance) == \
        ("203.0.113.1", "web-1", "203.0.113.2", None)
    assert web.id.startswith("eipalloc-") and blue.elastic_ip_of("web-1") == web and blue.elastic_ip_of("db-1") is None
    nat = blue.nat_gateways["nat-a"]
    assert (nat.subnet, nat.elastic_ip, nat.ip, nat.id[:4]) == ("blue-pub", "nat-eip", "10.0.0.4", "nat-")
    vpn, dx = blue.vpn_connections["corp-vpn"], blue.direct_connect["corp-dx"]
    assert (vpn.site, vpn.id[:4], dx.site, dx.vlan, dx.id[:6]) == ("corp", "vpn-", "corp", 101, "dxcon-")
    s3, api = blue.endpoints["s3-ep"], blue.endpoints["api-ep"]
    assert (s3.type, s3.route_tables, s3.provider, s3.id[:5]) == ("gateway", ("private",), None, "vpce-")
    assert (api.type, api.provider, api.subnet, api.ip) == ("interface", ("shop", "api-svc"), "blue-a", "10.0.1.5")
    assert blue.route_tables["private"].routes[-1] == Route("198.18.0.0/24", "vpce:s3-ep")
    assert blue.route_tables["private"].route_for("198.18.0.7").target == "vpce:s3-ep"
    nlb = blue.load_balancers["web-nlb"]
    assert (nlb.scheme, nlb.subnets, nlb.addresses) == ("internal", ("blue-a",), (LbAddress("blue-a", "10.0.1.6"),))
    assert nlb.listeners == (Listener(80, "tcp", ("web-1", "web-2"), 8080),)
    assert nlb.health_check == HealthCheck(8080, 2, 2, 2)
    assert nlb.id.startswith("net/web-nlb/") and len(nlb.id.rsplit("/", 1)[1]) == 16
    svc = blue.endpoint_services["api-svc"]
    assert (svc.load_balancer, svc.account, svc.allowed_accounts, svc.id[:9]) == \
        ("web-nlb", "alice", ("alice",), "vpce-svc-")
    assert t.vpcs["shop"].endpoint_services["api-svc"].allows("alice")
    assert not t.vpcs["shop"].endpoint_services["api-svc"].allows("mallory")
    assert t.instance("web-1").metadata == InstanceMetadata("required", 1)
    assert t.instance("web-2").metadata == InstanceMetadata("optional", 1)      # AWS's defaults
    assert [t.find(n).name for n in ("web-1", "web-eip", "web-nlb", "api-ep", "example-web", "corp-1")] == \
        ["web-1", "web-eip", "web-nlb", "api-ep", "example-web", "corp-1"]


def test_ids_are_deterministic():
    a, b = load(EDGE_FILE), loads(EDGE, "other/edge.yaml")
    assert a.vpcs["blue"].nat_gateways == b.vpcs["blue"].nat_gateways
    assert a.vpcs["blue"].load_balancers["web-nlb"].id == b.vpcs["blue"].load_balancers["web-nlb"].id


def test_defaults_when_nothing_leaves():
    t = loads(EXAMPLE, FILE)
    assert dict(t.outside.internet) == {"internet": InternetHost("internet", "198.51.100.10")}
    assert dict(t.outside.sites) == {} and dict(t.dns.private_zones) == {}
    assert (t.edge, t.hyperplane, t.services.s3_cidr) == (Edge(1), Hyperplane(2, 2), "198.18.0.0/24")
    blue = t.vpcs["blue"]
    assert (blue.internet_gateway, blue.vpn_gateway, blue.dhcp) == (None, None, False)
    assert not (blue.elastic_ips or blue.nat_gateways or blue.vpn_connections or blue.direct_connect
                or blue.endpoints or blue.load_balancers or blue.endpoint_services)
    assert t.instance("web-1").metadata == InstanceMetadata("optional", 1)
    assert t.outside.hosts() == {"internet": InternetHost("internet", "198.51.100.10")}


def test_hyperplane_shard_size_defaults_to_two_or_the_nodes():
    assert loads(edit("hyperplane: {nodes: 4, shard_size: 2}", "hyperplane: {nodes: 1}")).hyperplane == Hyperplane(1, 1)
    assert loads(edit("hyperplane: {nodes: 4, shard_size: 2}", "hyperplane: {nodes: 5}")).hyperplane == Hyperplane(5, 2)
    assert loads(edit("hyperplane: {nodes: 4, shard_size: 2}", "hyperplane: {shard_size: 1}")).hyperplane == \
        Hyperplane(2, 1)


def test_outside_host_addresses_left_out_are_the_lowest_free_ones():
    text = edit("      example-web: {ip: 198.51.100.10, dns_name: www.example.com}",
                "      a: {}\n      b: {ip: 198.51.100.11}\n      c:")
    text = edit("        corp-1: {ip: 192.168.1.10}", "        corp-1: {}\n        corp-2: {ip: 192.168.0.4}", text)
    t = loads(text)
    assert [h.ip for h in t.outside.internet.values()] == ["198.51.100.10", "198.51.100.11", "198.51.100.12"]
    assert [h.ip for h in t.outside.sites["corp"].hosts.values()] == ["192.168.0.5", "192.168.0.4"]


def test_elastic_ip_addresses_written_first_then_the_lowest_free_in_file_order():
    text = edit("      nat-eip: {}", "      nat-eip: {address: 203.0.113.1}")
    text = edit("        scheme: internal                   #", "        scheme: internet-facing  #", text)
    blue = loads(text).vpcs["blue"]
    assert [e.address for e in blue.elastic_ips.values()] == ["203.0.113.2", "203.0.113.1"]
    assert blue.load_balancers["web-nlb"].addresses == (LbAddress("blue-a", "10.0.1.6", "203.0.113.3"),)


def test_load_balancer_defaults_are_aws_ones():
    text = edit("          - {port: 80, protocol: tcp, targets: [web-1, web-2], target_port: 8080}\n"
                "        health_check: {port: 8080, interval_s: 2, healthy: 2, unhealthy: 2}\n",
                "          - {port: 80, targets: []}\n")
    text = edit("        scheme: internal                   # internal | internet-facing (needs igw; takes an EIP)\n",
                "", text)
    nlb = loads(text).vpcs["blue"].load_balancers["web-nlb"]
    assert nlb.scheme == "internet-facing" and nlb.addresses[0].public_ip == "203.0.113.3"
    assert nlb.listeners == (Listener(80, "tcp", (), 80),)
    assert nlb.health_check == HealthCheck(None, 30, 5, 2) and nlb.health_check.port_for(nlb.listeners[0]) == 80


def test_a_gateway_endpoint_may_route_the_main_table_and_need_not_route_any():
    text = edit("route_tables: [private]}", "route_tables: [private, main]}")
    blue = loads(text).vpcs["blue"]
    assert blue.route_tables["main"].routes[-1] == Route("198.18.0.0/24", "vpce:s3-ep")
    assert loads(edit("{service: s3, route_tables: [private]}", "{service: s3}")).vpcs["blue"].endpoints[
        "s3-ep"].route_tables == ()


def test_the_s3_network_may_move_within_its_block():
    t = loads(edit("  s3: {cidr: 198.18.0.0/24}", "  s3: {cidr: 198.19.5.0/24}"))
    assert t.services.s3_ip == "198.19.5.10"
    assert t.vpcs["blue"].route_tables["private"].routes[-1] == Route("198.19.5.0/24", "vpce:s3-ep")
    assert loads(edit("  s3: {cidr: 198.18.0.0/24}", "  s3: {}")).services.s3_cidr == "198.18.0.0/24"


def test_a_small_s3_network_holds_the_gateway_endpoints_aliases():
    """Each gateway endpoint has an alias on the S3 host, right after its service address (+ 10)."""
    t = loads(edit("  s3: {cidr: 198.18.0.0/24}", "  s3: {cidr: 198.19.0.0/28}"))
    assert [t.services.gateway_alias(i) for i in range(5)] == ["198.19.0.11", "198.19.0.12", "198.19.0.13",
                                                                "198.19.0.14", None]
    five = "".join(f"      more-{i}: {{service: s3}}\n" for i in range(4))
    text = edit("  s3: {cidr: 198.18.0.0/24}", "  s3: {cidr: 198.19.0.0/28}",
                edit("      api-ep:", five + "      api-ep:"))
    expect(text, "more-3:", "vpcs.blue.endpoints.more-3",
           "services.s3.cidr 198.19.0.0/28 has room for 4 gateway endpoints (each takes an address on the S3 "
           "host), and this is number 5; use a larger S3 network, like 198.19.0.0/24")


def test_a_site_connects_to_vpcs_whose_cidrs_do_not_overlap():
    """blue and red have the same CIDR: the site's router could not tell which one an address is in."""
    text = edit("      red-web-1: {subnet: red-a, ip: 10.0.1.10}\n",
                "      red-web-1: {subnet: red-a, ip: 10.0.1.10}\n    vpn_connections:\n      red-vpn: {site: corp}\n")
    expect(text, "red-vpn: {site: corp}", "vpcs.red.vpn_connections.red-vpn.site",
           f"site corp already connects to vpc blue (10.0.0.0/16, line {line_of(text, 'corp-vpn: {site: corp}')}), "
           "which overlaps vpc red (10.0.0.0/16), so the site's router could not tell their addresses apart; "
           "connect the site to VPCs whose CIDRs do not overlap")
    green = edit("      green-1: {subnet: green-a}\n",
                 "      green-1: {subnet: green-a}\n    direct_connect:\n      green-dx: {site: corp, vlan: 7}\n")
    assert loads(green).vpcs["green"].direct_connect["green-dx"].site == "corp"      # 10.1.0.0/16: apart


def test_dx_and_vpn_to_the_same_site_and_vlans_per_site():
    text = edit("      corp-dx: {site: corp, vlan: 101}",
                "      corp-dx: {site: corp, vlan: 101}\n      corp-dx2: {site: corp, vlan: 102}")
    assert [d.vlan for d in loads(text).vpcs["blue"].direct_connect.values()] == [101, 102]


# --- what is refused: one line, FILE:LINE: KEY: problem; hint --------------------------------------------

INET = "      example-web: {ip: 198.51.100.10, dns_name: www.example.com}"
HOSTS = "outside.internet.hosts.example-web"


def inet(ip="198.51.100.10", dns="www.example.com"):
    return edit(INET, f"      example-web: {{ip: {ip}, dns_name: {dns}}}")


USE_INTERNET = "use an address in 198.51.100.0/24, from 198.51.100.10 to 198.51.100.254"


@pytest.mark.parametrize("ip, problem", [
    ("10.0.0.1", "10.0.0.1 is a private address (RFC 1918), which the internet never routes; "
                 f"{USE_INTERNET} (on-premises hosts go under outside.sites)"),
    ("192.168.3.3", "192.168.3.3 is a private address (RFC 1918), which the internet never routes; "
                    f"{USE_INTERNET} (on-premises hosts go under outside.sites)"),
    ("100.64.1.1", "100.64.1.1 is shared address space (RFC 6598, carrier-grade NAT), which the internet never "
                   f"routes; {USE_INTERNET} (on-premises hosts go under outside.sites)"),
    ("127.0.0.1", f"127.0.0.1 is a loopback address, which the internet never routes; {USE_INTERNET} "
                  f"(on-premises hosts go under outside.sites)"),
    ("169.254.169.254", f"169.254.169.254 is a link-local address, which the internet never routes; {USE_INTERNET} "
                        f"(on-premises hosts go under outside.sites)"),
    ("239.1.1.1", f"239.1.1.1 is a multicast address, which the internet never routes; {USE_INTERNET} "
                  f"(on-premises hosts go under outside.sites)"),
    ("203.0.113.9", f"203.0.113.9 is in 203.0.113.0/24, the elastic-IP pool (public addresses of VPCs), not the "
                    f"internet's hosts; {USE_INTERNET}"),
    ("8.8.8.8", f"8.8.8.8 is outside 198.51.100.0/24, the documentation block that the lab's internet uses, so "
                f"that a lab never speaks for a real host; {USE_INTERNET}"),
    ("198.51.100.1", "198.51.100.1 is reserved on the lab's internet: it is the address of a lab router on the "
                     "internet; pick one from 198.51.100.10 to 198.51.100.254"),
    ("198.51.100.255", "198.51.100.255 is reserved on the lab's internet: it is the broadcast address; pick one "
                       "from 198.51.100.10 to 198.51.100.254"),
    ("www", "'www' is not an IPv4 address; write it like 198.51.100.10"),
])
def test_internet_host_addresses(ip, problem):
    expect(inet(ip=ip), "example-web:", f"{HOSTS}.ip", problem)


@pytest.mark.parametrize("dns, problem", [
    ("WWW.example.com", "'WWW.example.com' has upper-case letters; write DNS names in lower case, like "
                        "'www.example.com'"),
    ("www.example.com.", "'www.example.com.' ends in a dot; write it without the dot, like 'www.example.com'"),
    ("www..com", "'www..com' is not a valid DNS name (an empty label); use labels of 1 to 63 lower-case letters, "
                 "digits and '-' (not at either end), joined by dots, like www.example.com"),
    ("-www.example.com", "'-www.example.com' is not a valid DNS name ('-www'); use labels of 1 to 63 lower-case "
                         "letters, digits and '-' (not at either end), joined by dots, like www.example.com"),
    ("www_1.example.com", "'www_1.example.com' is not a valid DNS name ('www_1'); use labels of 1 to 63 lower-case "
                          "letters, digits and '-' (not at either end), joined by dots, like www.example.com"),
    ("localhost", "'localhost' has one label; write a full name with a domain, like localhost.example.com"),
    ("x.ec2.internal", "'x.ec2.internal' is in ec2.internal, Amazon DNS's own domain (names like "
                       "ip-10-0-1-10.ec2.internal); pick another domain, like corp.internal"),
    ("a." + "b" * 64 + ".com", "'a." + "b" * 64 + ".com' is not a valid DNS name ('" + "b" * 64 + "'); use labels "
     "of 1 to 63 lower-case letters, digits and '-' (not at either end), joined by dots, like www.example.com"),
])
def test_internet_host_dns_names(dns, problem):
    expect(inet(dns=dns), "example-web:", f"{HOSTS}.dns_name", problem)


def test_internet_hosts_addresses_and_dns_names_are_unique():
    two = INET + "\n      other: {ip: 198.51.100.10}"
    expect(edit(INET, two), "other:", "outside.internet.hosts.other.ip", "198.51.100.10 is already the address of "
           f"internet host example-web (line {line_of(EDGE, 'example-web:')}); pick another, or leave ip out to get "
           f"a free one")
    two = INET + "\n      other: {dns_name: www.example.com}"
    expect(edit(INET, two), "other:", "outside.internet.hosts.other.dns_name", "www.example.com is already the "
           f"dns_name of another internet host (line {line_of(EDGE, 'example-web:')}); give each host its own name")


def test_internet_hosts_may_not_be_an_empty_mapping():
    text = edit("    hosts:                                 # default: one host `internet` at 198.51.100.10\n" + INET,
                "    hosts: {}")
    expect(text, "hosts: {}", "outside.internet.hosts", "the mapping is empty; name at least one internet host, or "
           "leave hosts out for the default host internet at 198.51.100.10")


def test_names_are_unique_across_instances_outside_hosts_and_resources():
    first = line_of(EDGE, "example-web:")
    expect(edit("      api-1: {subnet: shop-a}", "      example-web: {subnet: shop-a}"), "example-web: {subnet",
           "vpcs.shop.instances.example-web", f"'example-web' is already the name of internet host on line "
           f"{first}; instances, outside hosts, elastic IPs, load balancers and endpoints share one set of names "
           f"(checks and lab.node use them), so rename one")
    expect(edit("      nat-eip: {}", "      web-1: {}"), "      web-1: {}", "vpcs.blue.elastic_ips.web-1",
           f"'web-1' is already the name of instance on line {line_of(EDGE, '      web-1:')}; instances, outside "
           f"hosts, elastic IPs, load balancers and endpoints share one set of names (checks and lab.node use "
           f"them), so rename one")
    expect(edit("        corp-1: {ip: 192.168.1.10}", "        corp-vpn: {ip: 192.168.1.10}"), "corp-vpn: {ip",
           "outside.sites.corp.hosts.corp-vpn", "'corp-vpn' is the name of site corp's VPN router, which the lab "
           "makes; rename this one")
    expect(edit("      green-1: {subnet: green-a}", "      s3: {subnet: green-a}"), "s3: {subnet",
           "vpcs.green.instances.s3", "'s3' is the name of the S3 service host, which the lab makes; rename this one")
    # the default internet host: an instance named internet without outside.internet.hosts
    expect(EXAMPLE.replace("green-1: {subnet", "internet: {subnet"), "internet: {subnet", "vpcs.green.instances."
           "internet", "'internet' is the name of the default internet host (at 198.51.100.10; "
           "outside.internet.hosts is left out), which the lab makes; rename this one")


def test_a_site_router_name_that_a_host_took_first():
    text = edit("    corp:\n      cidr: 192.168.0.0/16", "    lab:\n      cidr: 172.16.0.0/16\n      hosts: "
                "{corp-dx: {}}\n    corp:\n      cidr: 192.168.0.0/16")
    message = error(text)
    assert message == (f"{FILE}:{line_of(text, '    corp:')}: outside.sites.corp: 'corp-dx', the name of site "
                       f"corp's DX router, is already the name of site host on line {line_of(text, 'corp-dx: {}')}; "
                       f"rename one")


CORP = "      cidr: 192.168.0.0/16                 # must not overlap a VPC it connects to"
PRIVATE = "          - {destination: 0.0.0.0/0, target: nat:nat-a}"
NLB_TARGETS = "          - {port: 80, protocol: tcp, targets: [web-1, web-2], target_port: 8080}"
EIP_POOL = "pick one from 203.0.113.1 to 203.0.113.254"


@pytest.mark.parametrize("old, new, snippet, key, message", [
    # sites
    (CORP + "\n      hosts:\n        corp-1: {ip: 192.168.1.10}", "      cidr: 10.0.0.0/16", "corp-vpn: {site: corp}",
     "vpcs.blue.vpn_connections.corp-vpn.site",
     "site corp (10.0.0.0/16) overlaps vpc blue (10.0.0.0/16), so their addresses could not be told apart; connect a "
     "site whose CIDR does not overlap the VPC's, or change one CIDR"),
    (CORP, "      cidr: 192.168.0.0/33", "/33", "outside.sites.corp.cidr",
     "'192.168.0.0/33' is not a CIDR block; write it like 10.0.1.0/24"),
    (CORP, "      cidr: 192.168.0.0/30", "/30", "outside.sites.corp.cidr",
     "/30 is outside what the lab allows for a site; use a prefix from /8 to /28"),
    (CORP, "      cidr: 198.18.0.0/16", "198.18.0.0/16", "outside.sites.corp.cidr",
     "198.18.0.0/16 overlaps 198.18.0.0/24, the S3 service network (services.s3.cidr), which no site may use; pick "
     "a private block such as 10.0.0.0/16, 172.16.0.0/16 or 192.168.0.0/16"),
    (CORP, "      cidr: 198.51.100.0/24", "198.51.100.0/24", "outside.sites.corp.cidr",
     "198.51.100.0/24 overlaps 198.51.100.0/24, the lab's internet (outside.internet.hosts), which no site may use; "
     "pick a private block such as 10.0.0.0/16, 172.16.0.0/16 or 192.168.0.0/16"),
    ("corp-1: {ip: 192.168.1.10}", "corp-1: {ip: 10.0.0.5}", "corp-1:", "outside.sites.corp.hosts.corp-1.ip",
     "10.0.0.5 is outside site corp (192.168.0.0/16); pick one from 192.168.0.4 to 192.168.255.254"),
    ("corp-1: {ip: 192.168.1.10}", "corp-1: {ip: 192.168.0.2}", "corp-1:", "outside.sites.corp.hosts.corp-1.ip",
     "192.168.0.2 is reserved in site corp: it is the site's VPN router; pick one from 192.168.0.4 to "
     "192.168.255.254"),
    ("corp-1: {ip: 192.168.1.10}", "corp-1: {ip: 192.168.255.255}", "corp-1:", "outside.sites.corp.hosts.corp-1.ip",
     "192.168.255.255 is reserved in site corp: it is the broadcast address; pick one from 192.168.0.4 to "
     "192.168.255.254"),
    ("    corp:\n", "    corp-with-a-name-far-too-long:\n", "far-too-long:", "outside.sites",
     "name 'corp-with-a-name-far-too-long' has 29 characters; use at most 28"),
    ("  sites:  ", "  site:  ", "site:", "outside",
     "unknown key 'site'; did you mean 'sites'? allowed keys are: internet, sites"),
    # edge, hyperplane, services
    ("edge: {nodes: 1}", "edge: {nodes: 0}", "edge:", "edge.nodes",
     "0 is out of range; use a whole number from 1 to 8"),
    ("edge: {nodes: 1}", "edge: {nodes: 9}", "edge:", "edge.nodes",
     "9 is out of range; use a whole number from 1 to 8"),
    ("hyperplane: {nodes: 4, shard_size: 2}", "hyperplane: {nodes: 4, shard_size: 5}", "hyperplane:",
     "hyperplane.shard_size", "5 is more than the 4 nodes: each resource is served by shard_size of the nodes; use at "
     "most 4, or more nodes"),
    ("hyperplane: {nodes: 4, shard_size: 2}", "hyperplane: {nodes: 4, shard_size: 0}", "hyperplane:",
     "hyperplane.shard_size", "0 is out of range; use a whole number from 1 to 100"),
    ("hyperplane: {nodes: 4, shard_size: 2}", "hyperplane: {nodes: 101}", "hyperplane:", "hyperplane.nodes",
     "101 is out of range; use a whole number from 1 to 100"),
    ("hyperplane: {nodes: 4, shard_size: 2}", "hyperplane: {shard_size: 3}", "hyperplane:", "hyperplane.shard_size",
     "3 is more than the 2 nodes: each resource is served by shard_size of the nodes; use at most 2, or more nodes"),
    ("s3: {cidr: 198.18.0.0/24}", "s3: {cidr: 10.9.0.0/24}", "s3:", "services.s3.cidr",
     "10.9.0.0/24 is outside 198.18.0.0/15, the block kept for the lab's services; pick a block inside it, like "
     "198.18.0.0/24"),
    ("s3: {cidr: 198.18.0.0/24}", "s3: {cidr: 198.16.0.0/14}", "s3:", "services.s3.cidr",
     "/14 is outside what the lab allows for a service network; use a prefix from /15 to /28"),
    ("s3: {cidr: 198.18.0.0/24}", "s3: {cidr: 198.18.0.0/24, port: 80}", "s3:", "services.s3",
     "unknown key 'port'; allowed keys are: cidr"),
    ("  s3: {cidr", "  ec2: {cidr", "ec2:", "services", "unknown key 'ec2'; allowed keys are: s3"),
    # dns
    ("      vpcs: [blue]\n      records", "      vpcs: [bleu]\n      records", "[bleu]",
     "dns.private_zones.corp.internal.vpcs[0]", "'bleu' is not a VPC of this file; did you mean 'blue'? use one of: "
     "blue, red, green, shop"),
    ("      vpcs: [blue]\n      records", "      vpcs: [blue, blue]\n      records", "[blue, blue]",
     "dns.private_zones.corp.internal.vpcs[1]", "vpc blue is listed twice; list each vpc once"),
    ("      vpcs: [blue]\n      records", "      vpcs: []\n      records", "vpcs: []",
     "dns.private_zones.corp.internal.vpcs", "the list is empty; a private zone answers only in the VPCs it names, "
     "so name at least one"),
    ("{db: db-1, api", "{db: db-9, api", "db-9", "dns.private_zones.corp.internal.records.db",
     "'db-9' is neither an instance of this file nor an IPv4 address; did you mean 'db-1'? instances are: web-1, "
     "web-2, db-1, red-web-1, green-1, api-1, api-2"),
    ("{db: db-1, api", "{DB: db-1, api", "DB:", "dns.private_zones.corp.internal.records.DB",
     "'DB' has upper-case letters; write DNS names in lower case, like 'db'"),
    ("{db: db-1, api", "{db.corp.internal: db-1, api", "db.corp.internal:",
     "dns.private_zones.corp.internal.records.db.corp.internal", "'db.corp.internal' already ends in the zone's "
     "name, and a record's name is relative to its zone (this one would be db.corp.internal.corp.internal); "
     "write db"),
    ("{db: db-1, api", "{corp.internal: db-1, api", "{corp.internal: db-1",
     "dns.private_zones.corp.internal.records.corp.internal", "'corp.internal' is the zone's own name, and a "
     "record's name is relative to its zone; write the labels before .corp.internal, like db"),
    ("    corp.internal:", "    corp.ec2.internal:", "corp.ec2.internal:", "dns.private_zones.corp.ec2.internal",
     "'corp.ec2.internal' is in ec2.internal, Amazon DNS's own domain (names like ip-10-0-1-10.ec2.internal); pick "
     "another domain, like corp.internal"),
    ("    corp.internal:", "    corpinternal:", "corpinternal:", "dns.private_zones.corpinternal",
     "'corpinternal' has one label; write a full name with a domain, like corpinternal.example.com"),
    ("dns_name: www.example.com", "dns_name: 198.51.100.10", "dns_name: 198", "outside.internet.hosts.example-web."
     "dns_name", "'198.51.100.10' ends in an all-digit label, so resolvers read it as an address, never asking DNS; "
     "end it in a domain like example.com"),
    # internet gateway, dhcp
    ("    internet_gateway: true ", "    internet_gateway: yes ", "internet_gateway: yes", "vpcs.blue.internet_gateway",
     "'yes' is not plain true or false (YAML would read it as a boolean); write true or false"),
    ("    dhcp: true ", "    dhcp: 1 ", "dhcp: 1", "vpcs.blue.dhcp",
     "expected true or false, got '1'; write true or false without quotes"),
    # elastic IPs
    ("web-eip: {instance: web-1}", "web-eip: {instance: web-9}", "web-eip:", "vpcs.blue.elastic_ips.web-eip.instance",
     "'web-9' is not an instance of vpc blue; did you mean 'web-2'? use one of: web-1, web-2, db-1"),
    ("web-eip: {instance: web-1}", "web-eip: {instance: red-web-1}", "web-eip:",
     "vpcs.blue.elastic_ips.web-eip.instance", "red-web-1 is an instance of vpc red, not of vpc blue; an elastic IP "
     "is associated with instances of its own VPC"),
    ("web-eip: {instance: web-1}", "web-eip: {instance: web-1}\n      web-eip2: {instance: web-1}", "web-eip2:",
     "vpcs.blue.elastic_ips.web-eip2.instance", "instance web-1 already has elastic IP web-eip (line "
     "<<web-eip: {>>); an instance has one elastic IP"),
    ("web-eip: {instance: web-1}", "web-eip: {instance: web-1, address: 198.51.100.20}", "web-eip:",
     "vpcs.blue.elastic_ips.web-eip.address", f"198.51.100.20 is outside the elastic-IP pool (203.0.113.0/24); "
     f"{EIP_POOL}"),
    ("web-eip: {instance: web-1}", "web-eip: {instance: web-1, address: 203.0.113.0}", "web-eip:",
     "vpcs.blue.elastic_ips.web-eip.address", f"203.0.113.0 is reserved in the elastic-IP pool: it is the network "
     f"address; {EIP_POOL}"),
    ("nat-eip: {}", "nat-eip: {address: 203.0.113.7}\n      b-eip: {address: 203.0.113.7}", "      b-eip:",
     "vpcs.blue.elastic_ips.b-eip.address", "203.0.113.7 is already the address of elastic IP nat-eip (line "
     "<<nat-eip: {>>); "
     "pick another, or leave address out to get a free one"),
    # NAT gateways
    ("nat-a: {subnet: blue-pub, elastic_ip: nat-eip}", "nat-a: {subnet: blue-a, elastic_ip: web-eip}", "nat-a:",
     "vpcs.blue.nat_gateways.nat-a.elastic_ip", "elastic IP web-eip is associated with instance web-1; a NAT gateway "
     "needs one of its own (an elastic IP without instance: {})"),
    ("nat-a: {subnet: blue-pub, elastic_ip: nat-eip}", "nat-a: {subnet: blue-pub, elastic_ip: nat-ip}", "nat-a:",
     "vpcs.blue.nat_gateways.nat-a.elastic_ip", "'nat-ip' is not an elastic IP of vpc blue; did you mean 'nat-eip'? "
     "use one of: web-eip, nat-eip"),
    ("nat-a: {subnet: blue-pub, elastic_ip: nat-eip}", "nat-a: {subnet: blue-pub, elastic_ip: nat-eip}\n"
     "      nat-b: {subnet: blue-pub, elastic_ip: nat-eip}", "nat-b:", "vpcs.blue.nat_gateways.nat-b.elastic_ip",
     "elastic IP nat-eip is already the address of NAT gateway nat-a (line <<nat-a: {>>); give each NAT gateway "
     "its own"),
    ("nat-a: {subnet: blue-pub, elastic_ip: nat-eip}", "nat-a: {subnet: blue-b, elastic_ip: nat-eip}", "nat-a:",
     "vpcs.blue.nat_gateways.nat-a.subnet", "subnet blue-b is not public: route table private sends 0.0.0.0/0 to "
     "nat:nat-a, so a NAT gateway there cannot reach the internet; use a subnet whose route table has "
     "{destination: 0.0.0.0/0, target: igw}"),
    ("nat-a: {subnet: blue-pub, elastic_ip: nat-eip}", "nat-a: {subnet: blue-pub}", "nat-a:",
     "vpcs.blue.nat_gateways.nat-a", "'elastic_ip' is missing; add it, for example elastic_ip: web-eip"),
    ("nat-a: {subnet: blue-pub, elastic_ip: nat-eip}", "nat-a: {subnet: blue-c, elastic_ip: nat-eip}", "nat-a:",
     "vpcs.blue.nat_gateways.nat-a.subnet", "'blue-c' is not a subnet of vpc blue; did you mean 'blue-b'? use one "
     "of: blue-a, blue-b, blue-pub"),
    # VPN and Direct Connect
    ("corp-vpn: {site: corp}", "corp-vpn: {site: crop}", "corp-vpn: {site", "vpcs.blue.vpn_connections.corp-vpn.site",
     "'crop' is not a site of outside.sites; did you mean 'corp'? use one of: corp"),
    ("corp-vpn: {site: corp}", "corp-vpn: {site: corp}\n      corp-vpn2: {site: corp}", "corp-vpn2:",
     "vpcs.blue.vpn_connections.corp-vpn2.site", "site corp already has VPN connection corp-vpn to vpc blue; "
     "connect each site once"),
    ("corp-dx: {site: corp, vlan: 101}", "corp-dx: {site: corp, vlan: 4095}", "corp-dx: {site",
     "vpcs.blue.direct_connect.corp-dx.vlan", "4095 is out of range; use a whole number from 1 to 4094"),
    ("corp-dx: {site: corp, vlan: 101}", "corp-dx: {site: corp, vlan: 0}", "corp-dx: {site",
     "vpcs.blue.direct_connect.corp-dx.vlan", "0 is out of range; use a whole number from 1 to 4094"),
    ("corp-dx: {site: corp, vlan: 101}", "corp-dx: {site: corp}", "corp-dx: {site", "vpcs.blue.direct_connect.corp-dx",
     "'vlan' is missing; add it, for example vlan: 101"),
    ("corp-dx: {site: corp, vlan: 101}", "corp-dx: {site: corp, vlan: 101}\n      dx2: {site: corp, vlan: 101}",
     "dx2:", "vpcs.blue.direct_connect.dx2.vlan", "VLAN 101 is already used on the link to site corp by Direct "
     "Connect corp-dx (line <<corp-dx: {>>); pick another VLAN"),
    # endpoints
    ("s3-ep: {service: s3, route_tables: [private]}", "s3-ep: {service: s3, route_tables: [privat]}", "s3-ep:",
     "vpcs.blue.endpoints.s3-ep.route_tables[0]", "'privat' is not a route table of vpc blue; did you mean 'private'? "
     "use one of: public, private, main"),
    ("s3-ep: {service: s3, route_tables: [private]}", "s3-ep: {service: s3, route_tables: [private, private]}",
     "s3-ep:", "vpcs.blue.endpoints.s3-ep.route_tables[1]", "route table private is listed twice; list each route "
     "table once"),
    ("s3-ep: {service: s3, route_tables: [private]}", "s3-ep: {service: s3, subnet: blue-a}", "s3-ep:",
     "vpcs.blue.endpoints.s3-ep.subnet", "subnet applies only to interface endpoints (service: <vpc>/<endpoint "
     "service>); a gateway endpoint takes route_tables"),
    ("s3-ep: {service: s3, route_tables: [private]}", "s3-ep: {service: dynamodb}", "s3-ep:",
     "vpcs.blue.endpoints.s3-ep.service", "'dynamodb' is not a service; use s3 (a gateway endpoint) or "
     "<vpc>/<endpoint service> (an interface endpoint, PrivateLink), like shop/api-svc"),
    ("s3-ep: {service: s3, route_tables: [private]}", "s3-ep: {route_tables: [private]}", "s3-ep:",
     "vpcs.blue.endpoints.s3-ep", "'service' is missing; add it, for example service: s3"),
    ("api-ep: {service: shop/api-svc, subnet: blue-a}", "api-ep: {service: shop/api-svc}", "api-ep:",
     "vpcs.blue.endpoints.api-ep", "'subnet' is missing; an interface endpoint takes an address in a subnet, for "
     "example subnet: blue-a"),
    ("api-ep: {service: shop/api-svc, subnet: blue-a}", "api-ep: {service: shop/api-svc, route_tables: [private]}",
     "api-ep:", "vpcs.blue.endpoints.api-ep.route_tables", "route_tables applies only to gateway endpoints (service: "
     "s3); an interface endpoint takes a subnet, and is reached by its address there"),
    ("api-ep: {service: shop/api-svc, subnet: blue-a}", "api-ep: {service: shp/api-svc, subnet: blue-a}", "api-ep:",
     "vpcs.blue.endpoints.api-ep.service", "vpc 'shp' is not a VPC of this file; did you mean 'shop'? use one of: "
     "blue, red, green, shop"),
    ("api-ep: {service: shop/api-svc, subnet: blue-a}", "api-ep: {service: shop/web-svc, subnet: blue-a}", "api-ep:",
     "vpcs.blue.endpoints.api-ep.service", "'web-svc' is not an endpoint service of vpc shop; use one of: api-svc"),
    ("api-ep: {service: shop/api-svc, subnet: blue-a}", "api-ep: {service: shop/Api, subnet: blue-a}", "api-ep:",
     "vpcs.blue.endpoints.api-ep.service", "'Api' is not a valid name; use lower-case letters, digits and '-', "
     "starting with a letter or digit, like web-1"),
    ("api-svc: {load_balancer: api-nlb, allowed_accounts: [alice]}", "api-svc: {load_balancer: api-nlb}",
     "api-ep:", "vpcs.blue.endpoints.api-ep.service", "endpoint service shop/api-svc does not allow account alice "
     "(of vpc blue), so AWS refuses the endpoint; add alice to its allowed_accounts"),
    # load balancers
    (NLB_TARGETS, "          - {port: 80, protocol: tcp, targets: [web-1, red-web-1], target_port: 8080}",
     "red-web-1], target", "vpcs.blue.load_balancers.web-nlb.listeners[0].targets[1]", "red-web-1 is an instance of "
     "vpc red, not of vpc blue; a load balancer targets instances of its own VPC"),
    (NLB_TARGETS, "          - {port: 80, protocol: tcp, targets: [web-1, api-1], target_port: 8080}",
     "api-1], target", "vpcs.blue.load_balancers.web-nlb.listeners[0].targets[1]", "api-1 is an instance of vpc "
     "shop, not of vpc blue; a load balancer targets instances of its own VPC"),
    (NLB_TARGETS, "          - {port: 80, protocol: tcp, targets: [web-1, web-1], target_port: 8080}",
     "web-1, web-1", "vpcs.blue.load_balancers.web-nlb.listeners[0].targets[1]",
     "target web-1 is listed twice; list each target once"),
    (NLB_TARGETS, "          - {port: 80, protocol: udp, targets: [web-1], target_port: 8080}", "protocol: udp",
     "vpcs.blue.load_balancers.web-nlb.listeners[0].protocol", "'udp' is not a listener protocol (this version's "
     "load balancers are network load balancers for tcp); use one of: tcp"),
    (NLB_TARGETS, NLB_TARGETS + "\n          - {port: 80, targets: [web-2]}", "targets: [web-2]",
     "vpcs.blue.load_balancers.web-nlb.listeners[1].port", "port 80 already has a listener (line "
     "<<port: 80, protocol>>); one listener "
     "per port"),
    (NLB_TARGETS, "          - {port: 0, targets: [web-2]}", "targets: [web-2]",
     "vpcs.blue.load_balancers.web-nlb.listeners[0].port", "0 is out of range; use a whole number from 1 to 65535"),
    (NLB_TARGETS, "          - {port: 80, targets: [web-2], target_port: 70000}", "targets: [web-2]",
     "vpcs.blue.load_balancers.web-nlb.listeners[0].target_port",
     "70000 is out of range; use a whole number from 1 to 65535"),
    (NLB_TARGETS, "          - {port: 80}", "{port: 80}", "vpcs.blue.load_balancers.web-nlb.listeners[0]",
     "'targets' is missing; add it, for example targets: [web-1]"),
    ("        subnets: [blue-a]\n        scheme: internal",
     "        subnets: [blue-pub, blue-a]\n        scheme: internal",
     "[blue-pub, blue-a]", "vpcs.blue.load_balancers.web-nlb.subnets[1]", "subnet blue-a is in use1-az1 like "
     "subnet blue-pub; a load balancer takes one subnet per AZ"),
    ("        subnets: [blue-a]\n        scheme: internal", "        subnets: []\n        scheme: internal",
     "subnets: []", "vpcs.blue.load_balancers.web-nlb.subnets", "the list is empty; a load balancer has a node in "
     "each of its subnets, so name at least one"),
    ("        scheme: internal   ", "        scheme: external   ", "scheme: external",
     "vpcs.blue.load_balancers.web-nlb.scheme",
     "'external' is not a scheme; did you mean 'internal'? use one of: internal, internet-facing"),
    ("        subnets: [shop-a]\n        scheme: internal",
     "        subnets: [shop-a]\n        scheme: internet-facing",
     "scheme: internet-facing", "vpcs.shop.load_balancers.api-nlb.scheme", "an internet-facing load balancer needs "
     "an internet gateway, and vpc shop has none; add internet_gateway: true to vpc shop, or use scheme: internal"),
    ("health_check: {port: 8080, interval_s: 2, healthy: 2, unhealthy: 2}",
     "health_check: {port: 8080, interval_s: 301, healthy: 2, unhealthy: 2}", "health_check:",
     "vpcs.blue.load_balancers.web-nlb.health_check.interval_s", "301 is out of range; use a whole number from 1 "
     "to 300"),
    ("health_check: {port: 8080, interval_s: 2, healthy: 2, unhealthy: 2}",
     "health_check: {port: 8080, interval_s: 2, healthy: 1, unhealthy: 2}", "health_check:",
     "vpcs.blue.load_balancers.web-nlb.health_check.healthy", "1 is out of range; use a whole number from 2 to 10"),
    ("health_check: {port: 8080, interval_s: 2, healthy: 2, unhealthy: 2}",
     "health_check: {port: 8080, interval_s: 2, healthy: 2, unhealthy: 11}", "health_check:",
     "vpcs.blue.load_balancers.web-nlb.health_check.unhealthy", "11 is out of range; use a whole number from 2 to 10"),
    ("health_check: {port: 8080, interval_s: 2, healthy: 2, unhealthy: 2}", "health_check: {path: /}",
     "health_check:", "vpcs.blue.load_balancers.web-nlb.health_check", "unknown key 'path'; allowed keys are: port, "
     "interval_s, healthy, unhealthy"),
    # endpoint services
    ("api-svc: {load_balancer: web-nlb, allowed_accounts: [alice]}",
     "api-svc: {load_balancer: web-lb, allowed_accounts: [alice]}", "api-svc: {load_balancer: web",
     "vpcs.blue.endpoint_services.api-svc.load_balancer", "'web-lb' is not a load balancer of vpc blue; did you "
     "mean 'web-nlb'? use one of: web-nlb"),
    ("api-svc: {load_balancer: web-nlb, allowed_accounts: [alice]}",
     "api-svc: {load_balancer: web-nlb, allowed_accounts: [carol]}", "api-svc: {load_balancer: web",
     "vpcs.blue.endpoint_services.api-svc.allowed_accounts[0]", "'carol' is not an account of this file; use one "
     "of: alice, bob"),
    ("api-svc: {load_balancer: web-nlb, allowed_accounts: [alice]}",
     "api-svc: {load_balancer: web-nlb}\n      svc2: {load_balancer: web-nlb}", "svc2:",
     "vpcs.blue.endpoint_services.svc2.load_balancer", "load balancer web-nlb already serves endpoint service api-svc "
     "(line <<api-svc: {load_balancer: web>>); a load balancer serves one endpoint service"),
    # instance metadata
    ("metadata: {http_tokens: required, hop_limit: 1}", "metadata: {http_tokens: v2, hop_limit: 1}", "metadata:",
     "vpcs.blue.instances.web-1.metadata.http_tokens", "'v2' is not an http_tokens setting; use one of: optional, "
     "required"),
    ("metadata: {http_tokens: required, hop_limit: 1}", "metadata: {http_tokens: required, hop_limit: 65}",
     "metadata:", "vpcs.blue.instances.web-1.metadata.hop_limit", "65 is out of range; use a whole number from 1 "
     "to 64"),
    ("metadata: {http_tokens: required, hop_limit: 1}", "metadata: {http_endpoint: disabled}", "metadata:",
     "vpcs.blue.instances.web-1.metadata", "unknown key 'http_endpoint'; allowed keys are: http_tokens, hop_limit"),
    # route targets
    ("      green-a: {cidr: 10.1.1.0/24, az: use1-az2}\n", "      green-a: {cidr: 10.1.1.0/24, az: use1-az2}\n"
     "    route_tables: {out: {subnets: [green-a], routes: [{destination: 0.0.0.0/0, target: igw}]}}\n",
     "target: igw}]", "vpcs.green.route_tables.out.routes[0].target", "vpc green has no internet gateway; add "
     "internet_gateway: true to vpc green, or route elsewhere"),
    ("    internet_gateway: true ", "    internet_gateway: false ", "web-eip: {", "vpcs.blue.elastic_ips.web-eip."
     "instance", "vpc blue has no internet gateway, and AWS associates an elastic IP only in a VPC with one; add "
     "internet_gateway: true to vpc blue"),
    ("corp-vpn: {site: corp}", "corp-vpn: {site: corp}\n      x: {site: lab}", "x: {site: lab}",
     "vpcs.blue.vpn_connections.x.site", "site lab (192.168.7.0/24) overlaps site corp (192.168.0.0/16), which vpc "
     "blue already connects to (line <<corp-vpn: {site>>); connect sites whose CIDRs do not overlap"),
    (PRIVATE, "          - {destination: 0.0.0.0/0, target: nat:nat-b}", "nat:nat-b",
     "vpcs.blue.route_tables.private.routes[0].target", "nat:nat-b is not a NAT gateway of vpc blue; did you mean "
     "'nat-a'? use one of: nat-a"),
    (PRIVATE, "          - {destination: 0.0.0.0/0, target: dx:corp}", "dx:corp",
     "vpcs.blue.route_tables.private.routes[0].target", "dx:corp is not a Direct Connect connection of vpc blue; "
     "did you mean 'corp-dx'? use one of: corp-dx"),
    (PRIVATE, "          - {destination: 0.0.0.0/0, target: vpce:api-ep}", "vpce:api-ep",
     "vpcs.blue.route_tables.private.routes[0].target", "vpce:api-ep is an interface endpoint, which is reached by "
     "its address, not by a route; route to a gateway endpoint (service: s3)"),
    (PRIVATE, "          - {destination: 0.0.0.0/0, target: vpce:s3}", "vpce:s3",
     "vpcs.blue.route_tables.private.routes[0].target", "vpce:s3 is not a gateway endpoint of vpc blue; use one "
     "of: s3-ep"),
    (PRIVATE, PRIVATE + "\n          - {destination: 198.18.0.0/24, target: blackhole}", "198.18.0.0/24, target",
     "vpcs.blue.endpoints.s3-ep.route_tables[0]", "route table private already routes 198.18.0.0/24 (the S3 prefix) "
     "to blackhole; a gateway endpoint adds that route itself, so remove the other route or endpoint"),
])
def test_refusals(old, new, snippet, key, message):
    text = edit(old, new)
    text = edit("  sites:  ", "  sites:\n    lab: {cidr: 192.168.7.0/24}  ", text) if "site lab" in message else text
    if "route table private already routes" in message:   # reported at the endpoint's route_tables entry
        snippet = "s3-ep: {service: s3"
    for marker in re.findall(r"<<(.*?)>>", message):       # (line <<snippet>>): the line of another entry
        message = message.replace(f"<<{marker}>>", str(line_of(text, marker)))
    expect(text, snippet, key, message)


def test_two_load_balancers_may_not_share_a_target_and_port():
    text = edit("    endpoint_services:\n      api-svc: {load_balancer: web-nlb",
                "      web-nlb-2:\n"
                "        subnets: [blue-a]\n"
                "        scheme: internal\n"
                "        listeners:\n"
                "          - {port: 81, targets: [web-2], target_port: 8080}\n"
                "    endpoint_services:\n      api-svc: {load_balancer: web-nlb")
    expect(text, "        listeners:", "vpcs.blue.load_balancers.web-nlb-2.listeners",
           f"web-2:8080 is already a target of load balancer web-nlb (line {line_of(text, 'listeners:')}); this lab "
           "tells a target's replies apart by its address and port, so give this listener another target_port", nth=2)


def test_a_nat_gateway_needs_an_internet_gateway():
    text = edit("    endpoint_services:\n      api-svc: {load_balancer: api-nlb",
                "    elastic_ips: {shop-eip: {}}\n"
                "    nat_gateways: {shop-nat: {subnet: shop-a, elastic_ip: shop-eip}}\n"
                "    endpoint_services:\n      api-svc: {load_balancer: api-nlb")
    expect(text, "shop-nat:", "vpcs.shop.nat_gateways.shop-nat.subnet", "vpc shop has no internet gateway, which a "
           "NAT gateway needs; add internet_gateway: true to vpc shop")


def test_a_nat_gateway_in_a_subnet_of_the_main_table():
    text = edit("        subnets: [blue-a, blue-pub]", "        subnets: [blue-a]")
    expect(text, "nat-a:", "vpcs.blue.nat_gateways.nat-a.subnet", "subnet blue-pub is not public: the main route "
           "table has no route for 0.0.0.0/0, so a NAT gateway there cannot reach the internet; use a subnet whose "
           "route table has {destination: 0.0.0.0/0, target: igw}")


def test_a_vgw_route_needs_a_vpn_connection():
    text = re.sub(r"    vpn_connections:\n      corp-vpn: .*\n", "", EDGE)
    expect(text, "target: vgw", "vpcs.blue.route_tables.private.routes[1].target", "vpc blue has no VPN connection, "
           "so no virtual private gateway; add one under vpn_connections, like corp-vpn: {site: corp}")


def test_the_elastic_ip_pool_runs_out_after_254_addresses():
    many = "".join(f"\n      e{n}: {{}}" for n in range(252))
    eip = "      web-eip: {instance: web-1}"
    assert len(loads(edit(eip, eip + many)).vpcs["blue"].elastic_ips) == 254
    text = edit(eip, eip + many + "\n      e-last: {}")
    expect(text, "nat-eip:", "vpcs.blue.elastic_ips.nat-eip", "the elastic-IP pool (203.0.113.0/24) has no free "
           "address left for elastic IP nat-eip; use fewer elastic IPs and internet-facing load balancers")


def test_a_full_subnet_has_no_address_for_an_endpoint():
    text = edit("      shop-a: {cidr: 10.0.1.0/24, az: use1-az1}", "      shop-a: {cidr: 10.0.1.0/28, az: use1-az1}")
    text = edit("      api-2: {subnet: shop-a}", "".join(f"      api-{n}: {{subnet: shop-a}}\n" for n in range(2, 12)),
                text)
    expect(text, "        subnets: [shop-a]", "vpcs.shop.load_balancers.api-nlb.subnets", "subnet shop-a "
           "(10.0.1.0/28) has no free address left for load balancer api-nlb; use a larger subnet or another one")


def test_dns_record_names_stay_within_253_characters():
    long = ".".join(["a" * 63] * 3) + ".b" * 26           # 243 characters; with .corp.internal 257
    expect(edit("{db: db-1, api", f"{{{long}: db-1, api"), long[:20], f"dns.private_zones.corp.internal.records.{long}",
           f"{long}.corp.internal... would have 257 characters; a DNS name has at most 253")


def test_an_instance_may_be_named_internet_when_internet_hosts_are_given():
    t = loads(edit("      green-1: {subnet: green-a}", "      internet: {subnet: green-a}"))
    assert t.instance("internet").vpc == "green"


def test_fuzz_only_topology_errors_escape():
    outcomes = fuzz(20240917, 200, EDGE)
    assert outcomes["loaded"] > 10 and outcomes["refused"] > 400


def test_resource_lines_for_validate_placement():
    lines = resource_lines(load(EDGE_FILE))
    assert lines[:3] == ["internet host example-web 198.51.100.10 (www.example.com)",
                         "site corp 192.168.0.0/16: corp-1 192.168.1.10",
                         "edge 1 node(s); hyperplane 4 node(s), shard size 2; s3 198.18.0.0/24 at 198.18.0.10"]
    assert "blue: NAT gateway nat-a in blue-pub at 10.0.0.4, public 203.0.113.2" in lines
    assert "blue: load balancer web-nlb (internal) at 10.0.1.6: :80->8080 web-1+web-2" in lines
    assert "blue: gateway endpoint s3-ep -> s3 (routes private)" in lines
    assert resource_lines(loads(EXAMPLE))[0] == "internet host internet 198.51.100.10"


def test_a_site_host_without_an_address_left_is_named_on_its_own_line():
    text = edit("      cidr: 192.168.0.0/16                 # must not overlap a VPC it connects to",
                "      cidr: 192.168.0.0/28")
    text = edit("        corp-1: {ip: 192.168.1.10}", "".join(f"        corp-{n}: {{}}\n" for n in range(1, 14)), text)
    expect(text, "        corp-12:", "outside.sites.corp.hosts.corp-12",
           "site corp (192.168.0.0/28) has no free address left for corp-12; use fewer hosts")
