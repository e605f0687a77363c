"""The `vpcs` key: each VPC's CIDR and VNI, subnets, placement groups and instances.

Security groups, network ACLs, route tables and flow logs are read by firewall_format; once every VPC's
instances and route tables are read, gateway_format reads each VPC's ways out (internet gateway, NAT
gateways, endpoints, ...), which may name instances and route tables of the file.
"""
from __future__ import annotations

import bisect
import dataclasses
import ipaddress
from types import MappingProxyType

from . import firewall_format
from .edge_model import HTTP_TOKENS, InstanceMetadata
from .gateway_format import GATEWAY_KEYS, GatewayReader
from .ids import Ids
from .instance_types import INSTANCE_TYPES
from .limits import (
    MAX_ENIS,
    MAX_HOP_LIMIT,
    MAX_INSTANCE_NAME,
    MAX_PARTITIONS,
    MAX_VNI,
    RESERVED_BLOCKS,
    SUBNET_PREFIXES,
    VPC_PREFIXES,
)
from .model import (
    DEFAULT_GROUP,
    STRATEGIES,
    TENANCIES,
    VPC,
    Instance,
    PhysicalHost,
    PlacementGroup,
    Subnet,
    TopologyError,
)
from .values import Names, Pool, block, cidr
from .yaml_nodes import Node

VPC_KEYS = ("account", "cidr", "vni", "subnets", "placement_groups", "instances", "security_groups",
            "network_acls", "route_tables", "flow_logs", *GATEWAY_KEYS)
INSTANCE_KEYS = ("subnet", "ip", "type", "tenancy", "placement_group", "partition", "host", "security_groups",
                 "metadata")


class VpcReader:
    """State shared by the VPCs of one file: instance names are unique in the whole file (names)."""

    def __init__(self, path: str, ids: Ids, names: Names, gateways: GatewayReader):
        self.path, self.ids, self.names, self.gateways = path, ids, names, gateways
        self.instance_vpcs: dict[str, str] = {}  # instance -> its VPC, in file order
        self.peering_routes: list = []  # (vpc, peering name, node): checked once the peerings are read

    def vpcs(self, node: Node | None, azs: list[str], hosts: dict, accounts: tuple) -> dict[str, VPC]:
        vpcs: dict[str, VPC] = {}
        later: list[tuple[dict, dict, list]] = []  # per VPC: (its keys, its subnets' pools, its route targets)
        vnis: dict[int, tuple[str, Node | None]] = {}  # vni -> (vpc, its vni: node if written)
        for index, (name, _, body) in enumerate(node.named() if node else ()):
            spec = body.mapping(VPC_KEYS, {"cidr": "cidr: 10.0.0.0/16"})
            account = (spec["account"].choice(accounts, "an account of this file") if "account" in spec
                       else accounts[0])
            net = _vpc_cidr(spec["cidr"], self.gateways.services.s3_cidr)
            vni_node = spec.get("vni")
            vni = vni_node.integer(1, MAX_VNI) if vni_node else 100 + index
            if vni in vnis:
                other, other_node = vnis[vni]
                if vni_node:
                    vni_node.fail(f"VNI {vni} is already the VNI of vpc {other}; VNIs are unique, pick another")
                other_node.fail(f"VNI {vni} is also the automatic VNI of vpc {name} (100 + its position); "
                                f"pick another, or give {name} a vni too")
            vnis[vni] = (name, vni_node)
            subnets = self._subnets(spec.get("subnets"), name, net, azs)
            groups = _groups(spec.get("placement_groups"))
            security = firewall_format.security_groups(spec.get("security_groups"), name, self.ids.id)
            instances, pools = self._instances(spec.get("instances"), name, account, subnets, groups, hosts,
                                               security)
            acls = firewall_format.network_acls(spec.get("network_acls"), subnets, self.ids.id, name)
            tables, refs = firewall_format.route_tables(spec.get("route_tables"), subnets, str(net), self.ids.id,
                                                        name)
            self.peering_routes += [(name, peering, where) for kind, peering, where in refs if kind == "pcx"]
            interval = firewall_format.flow_logs(spec["flow_logs"]) if "flow_logs" in spec else None
            vpcs[name] = VPC(name, self.ids.id("vpc", name), vni, account, str(net), MappingProxyType(subnets),
                             MappingProxyType(instances), MappingProxyType(groups), MappingProxyType(security),
                             MappingProxyType(acls), MappingProxyType(tables), interval)
            later.append((spec, pools, [ref for ref in refs if ref[0] != "pcx"]))
        for (name, vpc), (spec, pools, targets) in zip(list(vpcs.items()), later):
            vpcs[name] = dataclasses.replace(vpc, **self.gateways.read(spec, vpc, pools, targets, self.instance_vpcs))
        return vpcs

    def _subnets(self, node: Node | None, vpc: str, vpc_net: ipaddress.IPv4Network,
                 azs: list[str]) -> dict[str, Subnet]:
        subnets: dict[str, Subnet] = {}
        lines: dict[str, int] = {}
        taken = _Blocks()
        for name, _, body in node.named() if node else ():
            spec = body.mapping(("cidr", "az"), {"cidr": "cidr: 10.0.1.0/24", "az": f"az: {azs[0]}"})
            net = cidr(spec["cidr"], "subnet", SUBNET_PREFIXES)
            if not net.subnet_of(vpc_net):
                spec["cidr"].fail(f"{net} is outside vpc {vpc} ({vpc_net}); pick a block inside {vpc_net}")
            other = taken.first_overlap(net)
            if other is not None:
                other = subnets[other]
                spec["cidr"].fail(f"{net} overlaps subnet {other.name} ({other.cidr}, line "
                                  f"{lines[other.name]}); pick a block that does not overlap it")
            taken.add(net, name)
            az = spec["az"].choice(azs, "an AZ of the fabric")
            # Subnet names are scoped by their VPC, so the VPC is part of what the id hashes.
            subnets[name] = Subnet(name, self.ids.id("subnet", f"{vpc}/{name}"), vpc, str(net), az)
            lines[name] = spec["cidr"].line
        return subnets

    def _instances(self, node: Node | None, vpc: str, account: str, subnets: dict[str, Subnet],
                   groups: dict[str, PlacementGroup], hosts: dict, security: dict):
        """The VPC's instances, and the address pools of its subnets (what else takes addresses there)."""
        pools = {name: Pool(subnet.network, 4, 1, f"subnet {name}", f"by AWS in subnet {name}",
                            lambda ip, subnet=subnet: subnet.reserved[ip]) for name, subnet in subnets.items()}
        rotation: dict[str, int] = {}  # partition group -> members given a partition so far
        instances: dict[str, Instance] = {}
        for name, key, body in node.named(MAX_INSTANCE_NAME) if node else ():
            self.names.claim(key, name, "instance")
            if len(self.instance_vpcs) == MAX_ENIS:
                key.fail(f"this would be instance {MAX_ENIS + 1}, but each instance's ENI needs a conntrack "
                         f"zone of its own (16 bits, zone 0 is the host's), so at most {MAX_ENIS}; "
                         f"use fewer instances")
            self.instance_vpcs[name] = vpc
            spec = body.mapping(INSTANCE_KEYS, {"subnet": f"subnet: {next(iter(subnets), 'my-subnet')}"})
            subnet = subnets[spec["subnet"].choice(subnets, f"a subnet of vpc {vpc}")]
            ip = pools[subnet.name].take(spec["ip"], name) if "ip" in spec else None
            group = (groups[spec["placement_group"].choice(groups, f"a placement group of vpc {vpc}")]
                     if "placement_group" in spec else None)
            instances[name] = Instance(
                name=name, id=self.ids.id("i", name), eni=self.ids.id("eni", name), vpc=vpc, subnet=subnet.name,
                ip="" if ip is None else str(ip), mac=self.ids.mac(name),
                type=spec["type"].choice(INSTANCE_TYPES, "a known instance type") if "type" in spec
                else "t3.micro",
                tenancy=spec["tenancy"].choice(TENANCIES, "a tenancy") if "tenancy" in spec else "default",
                placement_group=group.name if group else None,
                partition=_partition(spec.get("partition"), group, rotation),
                pinned_host=_pin(spec["host"], subnet, hosts) if "host" in spec else None,
                host="", account=account, line=key.line,
                security_groups=(firewall_format.instance_groups(spec["security_groups"], security, vpc)
                                 if "security_groups" in spec else (DEFAULT_GROUP,)),
                metadata=_metadata(spec["metadata"]) if "metadata" in spec else InstanceMetadata())
        # Addresses left out come after all written ones are taken: the lowest free one, in file order.
        for name, inst in list(instances.items()):
            if not inst.ip:
                ip = pools[inst.subnet].next(name, inst.line)
                if ip is None:
                    raise TopologyError(self.path, inst.line, inst.key,
                                        f"subnet {inst.subnet} ({subnets[inst.subnet].cidr}) has no free address "
                                        f"left for {name}; use a larger subnet or another one")
                instances[name] = dataclasses.replace(inst, ip=str(ip))
        return instances, pools


class _Blocks:
    """Disjoint address blocks sorted by their first address: an overlap is found in O(log n)."""

    def __init__(self):
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.names: list[str] = []
        self.order: dict[str, int] = {}  # name -> position in file order

    def first_overlap(self, net: ipaddress.IPv4Network) -> str | None:
        """The earliest added block (in file order) that overlaps net, or None."""
        first, last = int(net.network_address), int(net.broadcast_address)
        # Blocks are disjoint, so those overlapping net are a run: from the last one starting at or
        # before net's first address (if it reaches it) to the last one starting within net.
        low = bisect.bisect_right(self.starts, first) - 1
        if low < 0 or self.ends[low] < first:
            low += 1
        high = bisect.bisect_right(self.starts, last)
        hits = self.names[low:high]
        return min(hits, key=self.order.__getitem__) if hits else None

    def add(self, net: ipaddress.IPv4Network, name: str) -> None:
        at = bisect.bisect_right(self.starts, int(net.network_address))
        self.starts.insert(at, int(net.network_address))
        self.ends.insert(at, int(net.broadcast_address))
        self.names.insert(at, name)
        self.order[name] = len(self.order)


def _vpc_cidr(node: Node, s3_cidr: str) -> ipaddress.IPv4Network:
    net = cidr(node, "VPC", VPC_PREFIXES)
    block(node, net, "VPC", RESERVED_BLOCKS,
          ((ipaddress.IPv4Network(s3_cidr), "the S3 service network (services.s3.cidr)"),))
    return net


def _metadata(node: Node) -> InstanceMetadata:
    spec = node.mapping(("http_tokens", "hop_limit"))
    default = InstanceMetadata()
    return InstanceMetadata(
        spec["http_tokens"].choice(HTTP_TOKENS, "an http_tokens setting") if "http_tokens" in spec
        else default.http_tokens,
        spec["hop_limit"].integer(1, MAX_HOP_LIMIT) if "hop_limit" in spec else default.hop_limit)


def _groups(node: Node | None) -> dict[str, PlacementGroup]:
    groups = {}
    for name, _, body in node.named() if node else ():
        spec = body.mapping(("strategy", "partitions"), {"strategy": "strategy: spread"})
        strategy = spec["strategy"].choice(STRATEGIES, "a placement strategy")
        if "partitions" in spec and strategy != "partition":
            spec["partitions"].fail("partitions applies only to strategy: partition; remove it")
        partitions = spec["partitions"].integer(1, MAX_PARTITIONS) if "partitions" in spec else 2
        groups[name] = PlacementGroup(name, strategy, partitions)
    return groups


def _partition(node: Node | None, group: PlacementGroup | None, rotation: dict[str, int]) -> int | None:
    if group is None or group.strategy != "partition":
        if node:
            node.fail("partition applies only to members of a partition placement group; remove it, or set "
                      "placement_group to a group with strategy: partition")
        return None
    if node:
        return node.integer(1, group.partitions)
    # Members without a partition take the partitions in turn, in file order.
    turn = rotation.get(group.name, 0)
    rotation[group.name] = turn + 1
    return turn % group.partitions + 1


def _pin(node: Node, subnet: Subnet, hosts: dict[str, PhysicalHost]) -> str:
    host = hosts[node.choice(hosts, "a physical host of the fabric")]
    if host.az != subnet.az:
        node.fail(f"host {host.name} is in {host.az}, but subnet {subnet.name} is in {subnet.az}; "
                  f"pin it to a host in {subnet.az} or use a subnet in {host.az}")
    return host.name
