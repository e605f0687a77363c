"""The firewall and routing keys of a VPC: security groups, network ACLs, route tables, flow logs.

Same style as the loader: every error is one line naming the file, the line and the key. The AWS
defaults are made explicit here, so that the controllers only ever see complete rule sets:
- every VPC has a `default` group (unless the file defines one): inbound from its own members,
  all outbound;
- a group the file leaves empty has no inbound rule and all outbound (what AWS creates);
- a subnet in no network ACL uses the default ACL (allow everything);
- a subnet in no route table uses the main table: the local route and a route to every peered VPC.
"""
from __future__ import annotations

import ipaddress
import re

from .model import (
    ALL_TRAFFIC,
    DEFAULT_GROUP,
    MAIN_ROUTE_TABLE,
    NetworkAcl,
    Route,
    RouteTable,
    Rule,
    SecurityGroup,
)
from .values import cidr, hint
from .yaml_nodes import compose

PROTOCOLS = {"all": None, "icmp": 1, "tcp": 6, "udp": 17}
PORTED = (6, 17)                      # protocols whose rules may name ports
MAX_GROUPS_PER_ENI = 5                # AWS's default quota
MAX_ACL_RULE = 32766                  # AWS: rule numbers 1 to 32766
PLAIN_TARGETS = ("igw", "vgw", "blackhole")
NAMED_TARGETS = ("pcx", "nat", "dx", "vpce")
MAX_FLOW_LOG_INTERVAL = 600           # AWS offers 60 or 600 s; shorter ones make tests fast
PORTS = re.compile(r"([0-9]+)(?:-([0-9]+))?\Z")  # ASCII digits: \d would take any script's
DIRECTIONS = (("inbound", "from"), ("outbound", "to"))


def security_groups(node, vpc: str, make_id, known: tuple = ()) -> dict[str, SecurityGroup]:
    """The groups of a VPC; `known` names groups that sg: may also refer to (rule changes)."""
    groups: dict[str, SecurityGroup] = {}
    references = []                                  # (group name, node): checked once all are read
    for name, _, body in node.named() if node else ():
        spec = body.mapping(("inbound", "outbound")) if not body.is_null else {}
        rules = {}
        for direction, peer_key in DIRECTIONS:
            if direction in spec:
                rules[direction] = tuple(_rule(item, peer_key, ("protocol", "ports", peer_key), references)
                                         for item in spec[direction].sequence())
            elif direction == "outbound" or name != DEFAULT_GROUP or spec:
                rules[direction] = (ALL_TRAFFIC,) if direction == "outbound" else ()
        if not spec and name == DEFAULT_GROUP:       # `default: {}` keeps AWS's default group
            rules["inbound"] = (Rule(None, None, "sg:" + DEFAULT_GROUP),)
        groups[name] = SecurityGroup(name, make_id("sg", f"{vpc}/{name}"), rules["inbound"], rules["outbound"])
    if DEFAULT_GROUP not in groups:
        groups[DEFAULT_GROUP] = SecurityGroup(DEFAULT_GROUP, make_id("sg", f"{vpc}/{DEFAULT_GROUP}"),
                                              (Rule(None, None, "sg:" + DEFAULT_GROUP),), (ALL_TRAFFIC,))
    for group, where in references:
        if group not in groups and group not in known:
            where.fail(f"sg:{group} is not a security group of vpc {vpc}; {_hint_groups(group, groups)}")
    return groups


def changed_group(text: str, source: str, vpc, group: str) -> SecurityGroup:
    """One group's new rules, given as YAML text {group: {inbound: [...], outbound: [...]}}."""
    return security_groups(compose(text, source), vpc.name, lambda *_: "",
                           tuple(vpc.security_groups))[group]


def instance_groups(node, groups: dict[str, SecurityGroup], vpc: str) -> tuple[str, ...]:
    items = node.sequence()
    if not items:
        node.fail(f"the list is empty; an ENI needs at least one group (leave security_groups out for "
                  f"the {DEFAULT_GROUP} group)")
    if len(items) > MAX_GROUPS_PER_ENI:
        node.fail(f"{len(items)} groups; AWS allows at most {MAX_GROUPS_PER_ENI} per ENI")
    names: list[str] = []
    for item in items:
        name = item.choice(groups, f"a security group of vpc {vpc}")
        if name in names:
            item.fail(f"group {name!r} is listed twice; list each group once")
        names.append(name)
    return tuple(names)


def network_acls(node, subnets: dict, make_id, vpc: str) -> dict[str, NetworkAcl]:
    acls: dict[str, NetworkAcl] = {}
    owner: dict[str, str] = {}                      # subnet -> its ACL
    for name, _, body in node.named() if node else ():
        spec = body.mapping(("subnets", "inbound", "outbound"), {"subnets": "subnets: [my-subnet]"})
        members = _subnets(spec["subnets"], subnets, owner, name, "network ACL", vpc)
        rules = {}
        for direction, peer_key in DIRECTIONS:
            items = spec[direction].sequence() if direction in spec else []
            numbered: dict[int, int] = {}
            parsed = []
            for item in items:
                rule = _rule(item, peer_key, ("rule", "protocol", "ports", peer_key, "action"), None)
                if rule.number in numbered:
                    item.fail(f"rule {rule.number} is already used on line {numbered[rule.number]}; "
                              f"give each rule of a direction its own number")
                numbered[rule.number] = item.line
                parsed.append(rule)
            rules[direction] = tuple(sorted(parsed, key=lambda r: r.number))
        acls[name] = NetworkAcl(name, make_id("acl", f"{vpc}/{name}"), members, rules["inbound"],
                                rules["outbound"])
    return acls


def route_tables(node, subnets: dict, vpc_cidr: str, make_id, vpc: str):
    """Route tables (without the main one) and the targets to check: (kind, name, node) of every route to a
    gateway or peering (pcx against the peerings, the others against the VPC's gateways)."""
    tables: dict[str, RouteTable] = {}
    owner: dict[str, str] = {}
    targets = []
    local = Route(vpc_cidr, "local")
    for name, key, body in node.named() if node else ():
        if name == MAIN_ROUTE_TABLE:
            key.fail(f"{MAIN_ROUTE_TABLE!r} is the name of the VPC's main route table, which vpclab makes; "
                     f"pick another name")
        spec = body.mapping(("subnets", "routes"), {"subnets": "subnets: [my-subnet]"})
        members = _subnets(spec["subnets"], subnets, owner, name, "route table", vpc)
        routes, seen = [local], {ipaddress.IPv4Network(vpc_cidr): None}
        for item in spec["routes"].sequence() if "routes" in spec else ():
            route = item.mapping(("destination", "target"), {"destination": "destination: 0.0.0.0/0",
                                                             "target": "target: igw"})
            net = _network(route["destination"])
            if net in seen:
                route["destination"].fail(
                    f"{net} is already routed " + ("by the local route of the VPC; remove this route"
                                                   if seen[net] is None else f"on line {seen[net]}; "
                                                   f"keep one route per destination"))
            seen[net] = item.line
            target = _target(route["target"], targets)
            routes.append(Route(str(net), target))
        tables[name] = RouteTable(name, make_id("rtb", f"{vpc}/{name}"), members, tuple(routes))
    return tables, targets


def main_route_table(vpc, peer_cidrs: dict[str, str], make_id) -> RouteTable:
    """The local route plus one route per peering, for the subnets of no other table."""
    taken = {s for t in vpc.route_tables.values() for s in t.subnets}
    routes = (Route(vpc.cidr, "local"),) + tuple(Route(cidr, "pcx:" + name) for name, cidr in peer_cidrs.items())
    return RouteTable(MAIN_ROUTE_TABLE, make_id("rtb", f"{vpc.name}/{MAIN_ROUTE_TABLE}"),
                      tuple(s for s in vpc.subnets if s not in taken), routes)


def flow_logs(node) -> int:
    spec = node.mapping(("interval_s",))
    return spec["interval_s"].integer(1, MAX_FLOW_LOG_INTERVAL) if "interval_s" in spec else 60


# --- parts --------------------------------------------------------------------------------------

def _rule(node, peer_key: str, keys: tuple, references: list | None) -> Rule:
    required = {"protocol": "protocol: tcp", peer_key: f"{peer_key}: 10.0.0.0/16"}
    if "action" in keys:
        required.update(rule="rule: 100", action="action: allow")
    spec = node.mapping(keys, required)
    protocol = _protocol(spec["protocol"])
    ports = None
    if "ports" in spec:
        if protocol not in PORTED:
            spec["ports"].fail("ports apply only to tcp and udp; remove it (this protocol has no ports, "
                               "so the rule covers all of it)")
        ports = _ports(spec["ports"])
    peer = spec[peer_key]
    text = peer.text()
    if text.startswith("sg:"):
        if references is None:
            peer.fail("a network ACL matches addresses only; write a CIDR block like 10.0.0.0/16")
        references.append((text[3:], peer))
    else:
        text = str(_network(peer))
    number = spec["rule"].integer(1, MAX_ACL_RULE) if "rule" in spec else None
    action = spec["action"].choice(("allow", "deny"), "an action") if "action" in spec else "allow"
    return Rule(protocol, ports, text, number, action)


def _protocol(node) -> int | None:
    value = node.node.value if hasattr(node.node, "value") else None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return node.integer(0, 255)
    return PROTOCOLS[node.choice(PROTOCOLS, "a protocol (or a protocol number from 0 to 255)")]


def _ports(node) -> tuple[int, int]:
    text = node.text()
    m = PORTS.match(text)
    if not m:
        node.fail(f"{text!r} is not a port or port range; write it like 80 or 1024-65535")
    for digits in m.groups(""):
        if len(digits) > 5:  # before int(), which refuses thousands of digits
            node.fail(f"{digits[:12]}... ({len(digits)} digits) is not a port; ports go from 0 to 65535")
    first, last = int(m.group(1)), int(m.group(2) or m.group(1))
    if last > 65535:
        node.fail(f"{last} is not a port; ports go from 0 to 65535")
    if first > last:
        node.fail(f"the range {text} runs backwards; write the lower port first, like {last}-{first}")
    return first, last


def _network(node) -> ipaddress.IPv4Network:
    return cidr(node, "rule", (0, 32))


def _target(node, targets: list) -> str:
    text = node.text()
    kind, _, name = text.partition(":")
    if (kind in PLAIN_TARGETS and not name) or (kind in NAMED_TARGETS and name):
        if kind != "blackhole":
            targets.append((kind, name, node))
        return text
    node.fail(f"{text!r} is not a route target; use igw, vgw, blackhole, pcx:<peering>, nat:<name>, "
              f"dx:<name> or vpce:<name> (the local route is always there)")


def _subnets(node, subnets: dict, owner: dict, table: str, what: str, vpc: str) -> tuple[str, ...]:
    names = []
    for item in node.sequence():
        name = item.choice(subnets, f"a subnet of vpc {vpc}")
        if name in owner:
            item.fail(f"subnet {name} is already in {what} {owner[name]}; a subnet has one {what}")
        owner[name] = table
        names.append(name)
    return tuple(names)


def _hint_groups(group: str, groups: dict) -> str:
    return hint(group, list(groups), "groups are")
