"""The `peering` key, the pcx: routes that name peerings, and every VPC's main route table.

A VPC's route tables must never send one destination to two peerings with the same prefix length:
AWS refuses that ambiguity (two spokes with the same CIDR, peered to one hub), and the data plane
routes a peered destination by the route table of the sender's subnet (VPC.peering_routes).
"""
from __future__ import annotations

import dataclasses
import ipaddress
from types import MappingProxyType

from . import firewall_format
from .ids import Ids
from .model import MAIN_ROUTE_TABLE, VPC, Peering, RouteTable, Topology, TopologyError
from .values import hint, name
from .yaml_nodes import Node


def peerings(node: Node | None, vpcs: dict[str, VPC], ids: Ids) -> tuple[Peering, ...]:
    peerings: list[Peering] = []
    pairs: dict[frozenset, int] = {}
    names: dict[str, int] = {}
    for item in node.sequence() if node else ():
        spec = item.mapping(("name", "vpcs"), {"vpcs": "vpcs: [blue, green]"})
        ends = spec["vpcs"].sequence()
        if len(ends) != 2:
            spec["vpcs"].fail(f"a peering joins exactly two VPCs, not {len(ends)}; "
                              f"write it like vpcs: [blue, green]")
        a, b = (end.choice(vpcs, "a VPC of this file") for end in ends)
        if a == b:
            ends[1].fail(f"vpc {a} cannot be peered with itself; name two different VPCs")
        pair = frozenset((a, b))
        if pair in pairs:
            spec["vpcs"].fail(f"vpcs {a} and {b} are already peered on line {pairs[pair]}; peer them once")
        net_a, net_b = ipaddress.IPv4Network(vpcs[a].cidr), ipaddress.IPv4Network(vpcs[b].cidr)
        if net_a.overlaps(net_b):
            spec["vpcs"].fail(f"the CIDRs of {a} ({net_a}) and {b} ({net_b}) overlap, and AWS peers only "
                              f"VPCs whose CIDR blocks do not; change one CIDR or drop this peering")
        name_node = spec.get("name", spec["vpcs"])
        peering = name(name_node, name_node.text()) if "name" in spec else f"{a}-{b}"
        if peering in names:
            name_node.fail(f"peering name {peering!r} is already used on line {names[peering]}; rename one")
        pairs[pair] = names[peering] = spec["vpcs"].line
        peerings.append(Peering(peering, ids.id("pcx", peering), (a, b), line=spec["vpcs"].line))
    return tuple(peerings)


def main_route_tables(topo: Topology, peering_routes: list, ids: Ids) -> dict[str, VPC]:
    """Check the pcx: routes against the peerings, then give every VPC its main route table."""
    ends = {p.name: p.vpcs for p in topo.peerings}
    for vpc, peering, node in peering_routes:
        if peering not in ends:
            node.fail(f"pcx:{peering} is not a peering of this file; {hint(peering, list(ends))}")
        if vpc not in ends[peering]:
            node.fail(f"peering {peering} joins {' and '.join(ends[peering])}, not vpc {vpc}; "
                      f"route to a peering of {vpc}")
    vpcs = {}
    for vpc_name, vpc in topo.vpcs.items():
        peers = {p: topo.vpcs[a if b == vpc_name else b].cidr for p, (a, b) in ends.items() if vpc_name in (a, b)}
        main = firewall_format.main_route_table(vpc, peers, ids.id)
        vpcs[vpc_name] = dataclasses.replace(vpc, route_tables=MappingProxyType({**vpc.route_tables, main.name: main}))
    return vpcs


def check_unambiguous(topo: Topology) -> None:
    """Refuse a route table, used by a subnet, that sends one destination to two peerings."""
    for vpc in topo.vpcs.values():
        for table in vpc.route_tables.values():
            if not table.subnets:
                continue  # a table no subnet uses routes nothing
            seen: dict[str, str] = {}  # destination -> peering
            for route in table.routes:
                kind, _, peering = route.target.partition(":")
                if kind == "pcx" and seen.setdefault(route.destination, peering) != peering:
                    _ambiguous(topo, vpc, table, route.destination, seen[route.destination], peering)


def _ambiguous(topo: Topology, vpc: VPC, table: RouteTable, destination: str, first: str, second: str):
    index, peering = next((i, p) for i, p in enumerate(topo.peerings) if p.name == second)
    low, high = ipaddress.IPv4Network(destination).subnets()
    subnets = ", ".join(table.subnets[:3]) + (f" and {len(table.subnets) - 3} more" if len(table.subnets) > 3
                                              else "")
    which = (f"the main route table of vpc {vpc.name}, which routes to every peered VPC,"
             if table.name == MAIN_ROUTE_TABLE else f"route table {table.name} of vpc {vpc.name}")
    raise TopologyError(
        topo.path, peering.line, f"peering[{index}].vpcs",
        f"{which} would send {destination} to both peering {first} and peering {second} (the same prefix, "
        f"so neither wins) and AWS refuses such ambiguous routes; give subnets {subnets} a route table "
        f"that sends each address to one peering, with more specific routes such as "
        f"{{destination: {low}, target: pcx:{first}}} and {{destination: {high}, target: pcx:{second}}}")
