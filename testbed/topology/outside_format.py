"""The top-level keys for leaving the VPC: `outside`, `edge`, `hyperplane`, `services` and `dns`.

What they mean on the wire is in docs/architecture.md and docs/services.md; their rules are in
docs/topology-format.md, their limits in limits.py.
"""
from __future__ import annotations

import ipaddress
from types import MappingProxyType

from .edge_model import (
    S3_HOST,
    STATE_STORES,
    Dns,
    DnsRecord,
    Edge,
    Hyperplane,
    InternetHost,
    Outside,
    PrivateZone,
    Services,
    Site,
    SiteHost,
)
from .limits import (
    DEFAULT_INTERNET_HOST,
    ELASTIC_IP_POOL,
    INTERNET_BLOCK,
    INTERNET_LAB_ADDRESSES,
    MAX_DNS_NAME,
    MAX_EDGE_NODES,
    MAX_HYPERPLANE_NODES,
    MAX_INSTANCE_NAME,
    MAX_SITE_NAME,
    NOT_INTERNET,
    RESERVED_BLOCKS,
    S3_BLOCK,
    S3_DEFAULT_CIDR,
    S3_PREFIXES,
    SITE_PREFIXES,
)
from .values import Names, Pool, block, choices, cidr, dns_name, hint, ipv4
from .yaml_nodes import Node

_NOT_INTERNET = [(ipaddress.IPv4Network(b), why) for b, why in NOT_INTERNET.items()]
SITE_ROLES = {0: "network address", 1: "site's router", 2: "site's VPN router", 3: "site's DX router"}


def services(node: Node | None, names: Names) -> Services:
    names.reserve(None, S3_HOST, "the S3 service host")
    spec = node.mapping(("s3",)) if node else {}
    s3 = spec["s3"].mapping(("cidr",)) if "s3" in spec else {}
    if "cidr" not in s3:
        return Services()
    net = cidr(s3["cidr"], "service network", S3_PREFIXES, "the lab allows")
    if not net.subnet_of(ipaddress.IPv4Network(S3_BLOCK)):
        s3["cidr"].fail(f"{net} is outside {S3_BLOCK}, the block kept for the lab's services; pick a block "
                        f"inside it, like {S3_DEFAULT_CIDR}")
    return Services(str(net))


def outside(node: Node | None, names: Names, s3: Services) -> Outside:
    spec = node.mapping(("internet", "sites")) if node else {}
    sites = _sites(spec.get("sites"), names, s3)
    internet = spec["internet"].mapping(("hosts",)) if "internet" in spec else {}
    if "hosts" not in internet:
        name, ip = DEFAULT_INTERNET_HOST
        names.reserve(None, name, f"the default internet host (at {ip}; outside.internet.hosts is left out)")
        return Outside(sites=MappingProxyType(sites))
    return Outside(MappingProxyType(_internet_hosts(internet["hosts"], names)), MappingProxyType(sites))


def _internet_hosts(node: Node, names: Names) -> dict[str, InternetHost]:
    net = ipaddress.IPv4Network(INTERNET_BLOCK)
    pool = Pool(net, INTERNET_LAB_ADDRESSES + 1, 1, "the lab's internet", "on the lab's internet",
                lambda ip: {0: "network address", 255: "broadcast address"}.get(ip.packed[3], "address of a lab "
                                                                                  "router on the internet"))
    hosts: dict[str, InternetHost] = {}
    dns: dict[str, int] = {}
    lines: dict[str, Node] = {}            # where each host is written, for an address it cannot get
    for name, key, body in node.named(MAX_INSTANCE_NAME):
        names.claim(key, name, "internet host")
        lines[name] = key
        spec = body.mapping(("ip", "dns_name")) if not body.is_null else {}
        ip = _internet_ip(spec["ip"], pool, name) if "ip" in spec else None
        dns_node = spec.get("dns_name")
        if dns_node:
            text = dns_name(dns_node, dns_node.text(), 2, MAX_DNS_NAME)
            if text in dns:
                dns_node.fail(f"{text} is already the dns_name of another internet host (line {dns[text]}); "
                              f"give each host its own name")
            dns[text] = dns_node.line
        hosts[name] = InternetHost(name, str(ip) if ip else "", dns_node.text() if dns_node else None)
    if not hosts:
        node.fail(f"the mapping is empty; name at least one internet host, or leave hosts out for the default "
                  f"host {DEFAULT_INTERNET_HOST[0]} at {DEFAULT_INTERNET_HOST[1]}")
    return {n: h if h.ip else InternetHost(n, str(_free(pool, n, lines[n])), h.dns_name) for n, h in hosts.items()}


def _internet_ip(node: Node, pool: Pool, host: str) -> ipaddress.IPv4Address:
    ip = ipv4(node, pool.first)
    hint_text = f"use an address in {INTERNET_BLOCK}, from {pool.first} to {pool.last}"
    if ip in ipaddress.IPv4Network(ELASTIC_IP_POOL):
        node.fail(f"{ip} is in {ELASTIC_IP_POOL}, the elastic-IP pool (public addresses of VPCs), not the "
                  f"internet's hosts; {hint_text}")
    why = next((w for b, w in _NOT_INTERNET if ip in b), None)
    if why:
        node.fail(f"{ip} is {why}, which the internet never routes; {hint_text} (on-premises hosts go under "
                  f"outside.sites)")
    if ip not in pool.net:
        node.fail(f"{ip} is outside {INTERNET_BLOCK}, the documentation block that the lab's internet uses, so "
                  f"that a lab never speaks for a real host; {hint_text}")
    return pool.take(node, f"internet host {host}")


def _free(pool: Pool, who: str, node: Node) -> ipaddress.IPv4Address:
    ip = pool.next(who, node.line)
    if ip is None:
        node.fail(f"{pool.owner} ({pool.net}) has no free address left for {who}; use fewer hosts")
    return ip


def _sites(node: Node | None, names: Names, s3: Services) -> dict[str, Site]:
    sites: dict[str, Site] = {}
    for name, key, body in node.named(MAX_SITE_NAME) if node else ():
        spec = body.mapping(("cidr", "hosts"), {"cidr": "cidr: 192.168.0.0/16"})
        net = cidr(spec["cidr"], "site", SITE_PREFIXES, "the lab allows")
        block(spec["cidr"], net, "site", RESERVED_BLOCKS,
              ((ipaddress.IPv4Network(s3.s3_cidr), "the S3 service network (services.s3.cidr)"),))
        site = Site(name, str(net))
        for router, what in ((site.vpn_router, "VPN"), (site.dx_router, "DX")):
            names.reserve(key, router, f"site {name}'s {what} router")
        pool = Pool(net, 4, 1, f"site {name}", f"in site {name}",
                    lambda ip, base=int(net.network_address):
                    SITE_ROLES.get(int(ip) - base, "broadcast address"))
        hosts: dict[str, SiteHost] = {}
        lines: dict[str, Node] = {}
        for host, host_key, host_body in spec["hosts"].named(MAX_INSTANCE_NAME) if "hosts" in spec else ():
            names.claim(host_key, host, "site host")
            lines[host] = host_key
            host_spec = host_body.mapping(("ip",)) if not host_body.is_null else {}
            ip = pool.take(host_spec["ip"], f"site host {host}") if "ip" in host_spec else None
            hosts[host] = SiteHost(host, name, str(ip) if ip else "")
        hosts = {h: s if s.ip else SiteHost(h, name, str(_free(pool, h, lines[h]))) for h, s in hosts.items()}
        sites[name] = Site(name, str(net), MappingProxyType(hosts))
    return sites


def edge(node: Node | None) -> Edge:
    spec = node.mapping(("nodes",)) if node else {}
    return Edge(spec["nodes"].integer(1, MAX_EDGE_NODES)) if "nodes" in spec else Edge()


def hyperplane(node: Node | None) -> Hyperplane:
    spec = node.mapping(("nodes", "shard_size", "state_store")) if node else {}
    nodes = spec["nodes"].integer(1, MAX_HYPERPLANE_NODES) if "nodes" in spec else Hyperplane.nodes
    store = Hyperplane.state_store
    if "state_store" in spec:
        store = spec["state_store"].choice(STATE_STORES, "a state store")
    if "shard_size" not in spec:
        return Hyperplane(nodes, min(Hyperplane.shard_size, nodes), store)
    shard = spec["shard_size"].integer(1, MAX_HYPERPLANE_NODES)
    if shard > nodes:
        spec["shard_size"].fail(f"{shard} is more than the {nodes} nodes: each resource is served by shard_size of "
                                f"the nodes; use at most {nodes}, or more nodes")
    return Hyperplane(nodes, shard, store)


def dns(node: Node | None, vpcs: dict, instances: dict) -> Dns:
    """Private hosted zones; instances maps every instance name to its address."""
    spec = node.mapping(("private_zones",)) if node else {}
    zones: dict[str, PrivateZone] = {}
    for zone, key, body in spec["private_zones"].entries() if "private_zones" in spec else ():
        dns_name(key.at(body.path), zone, 2, MAX_DNS_NAME)
        zone_spec = body.mapping(("vpcs", "records"), {"vpcs": f"vpcs: [{next(iter(vpcs), 'blue')}]"})
        associated = _vpc_list(zone_spec["vpcs"], vpcs)
        records = {}
        for record, record_key, value in zone_spec["records"].entries() if "records" in zone_spec else ():
            where = record_key.at(value.path)
            fqdn = f"{dns_name(where, record, 1, MAX_DNS_NAME)}.{zone}"
            _relative(where, record, zone, fqdn)
            if len(fqdn) > MAX_DNS_NAME:
                where.fail(f"{record}.{zone[:20]}... would have {len(fqdn)} characters; a DNS name has at most "
                           f"{MAX_DNS_NAME}")
            records[record] = _record(value, record, fqdn, instances)
        zones[zone] = PrivateZone(zone, associated, MappingProxyType(records))
    return Dns(MappingProxyType(zones))


def _relative(where: Node, record: str, zone: str, fqdn: str):
    """A record written as its full name (as Route 53's API takes it) would silently name another one."""
    if record == zone:
        where.fail(f"{record!r} is the zone's own name, and a record's name is relative to its zone; write the "
                   f"labels before .{zone}, like db")
    if record.endswith("." + zone):
        where.fail(f"{record!r} already ends in the zone's name, and a record's name is relative to its zone (this "
                   f"one would be {fqdn}); write {record[:-len(zone) - 1]}")


def _vpc_list(node: Node, vpcs: dict) -> tuple[str, ...]:
    if not node.sequence():
        node.fail("the list is empty; a private zone answers only in the VPCs it names, so name at least one")
    return choices(node, vpcs, "a VPC of this file", "vpc")


def _record(node: Node, record: str, fqdn: str, instances: dict) -> DnsRecord:
    text = node.text()
    if text in instances:
        return DnsRecord(record, fqdn, instances[text], text)
    try:
        return DnsRecord(record, fqdn, str(ipaddress.IPv4Address(text)))
    except ValueError:
        node.fail(f"{text!r} is neither an instance of this file nor an IPv4 address; "
                  f"{hint(text, list(instances), 'instances are')}")
