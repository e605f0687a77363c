"""The model's decisions of the stages that read the firewall and the route table, for one packet
(protocol, destination port) and the address at the other end: shared by `vpclab trace` and the
reachability matrix (`vpclab reachability`, the shell's pingall).

Nothing here re-implements a stage: the route decision, the security groups' matches and the network
ACLs' entries are the controller's own pure functions (controllers/router); this module only asks
them about one packet and keeps what decided, so that it can be named."""
import ipaddress
from dataclasses import dataclass

from controllers.router.network_acl import ACL_PRIORITY_TOP, acl_entries
from controllers.router.route_table import route_decision
from controllers.router.rules import matches
from controllers.router.security_groups import security_group_matches
from testbed.appliances.hyperplane.sharding import bucket_of, bucket_owner
from testbed.fabric import edge_plan, hyperplane_plan
from testbed.fabric.firewall_config import rule as rule_dict
from testbed.fabric.firewall_config import security_groups

ICMP, TCP, UDP = 1, 6, 17
PROTOCOLS = {ICMP: 'icmp', TCP: 'tcp', UDP: 'udp'}
SPORT = 40000           # a traced packet's source port (tcp/udp) unless it says another


@dataclass(frozen=True)
class Probe:
    """What the packet is, as the rules see it: IP protocol and destination port (tcp/udp), and the source
    port the reply goes to (the node a Hyperplane flow meets depends on it too)."""
    protocol: int = ICMP
    port: int | None = None
    sport: int = SPORT

    def __str__(self):
        name = PROTOCOLS.get(self.protocol, str(self.protocol))
        return f'{name}/{self.port}' if self.port is not None else name


PING = Probe()


def admits(m, probe, ip, members=lambda group: ()):
    """Does Match m (controllers/router/rules.py) admit `probe` with `ip` at the other end?  A match
    naming `sg:<group>` admits the group's members (members(group): their /32 blocks)."""
    if m.protocol is not None and m.protocol != probe.protocol:
        return False
    if m.port is not None and (probe.port is None or probe.port & m.mask != m.port & m.mask):
        return False
    address = ipaddress.IPv4Address(ip)
    blocks = members(m.cidr[3:]) if m.cidr.startswith('sg:') else (m.cidr,)
    return any(address in ipaddress.IPv4Network(block) for block in blocks)


def describe_rule(r, direction):
    """'inbound tcp 80 from 0.0.0.0/0' of a rule dict (firewall_config.rule)."""
    proto = 'all' if r['protocol'] is None else PROTOCOLS.get(r['protocol'], f'protocol {r["protocol"]}')
    ports = r.get('ports')
    span = '' if not ports else f' {ports[0]}' if ports[0] == ports[1] else f' {ports[0]}-{ports[1]}'
    return f'{direction} {proto}{span} {"from" if direction == "inbound" else "to"} {r["peer"]}'


def membership(entries):
    """(VNI, group) -> the /32s of its members, from mapping entries (dicts or objects with vni, ip,
    security_groups)."""
    out = {}
    for e in entries:
        get = e.get if isinstance(e, dict) else lambda k, e=e: getattr(e, k)
        for group in get('security_groups'):
            out.setdefault((get('vni'), group), set()).add(f'{get("ip")}/32')
    return out


def topology_membership(topo):
    return membership(dict(vni=topo.vpcs[i.vpc].vni, ip=i.ip, security_groups=i.security_groups)
                      for i in topo.instances())


@dataclass(frozen=True)
class Decision:
    allow: bool
    why: str            # the rule, route or default that decided, for people


def group_decision(vpc, rules, eni_groups, direction, probe, peer_ip, members):
    """Security groups: allowed if a rule of one of the ENI's groups admits the packet (AWS: their union).
    rules: {group: {inbound, outbound}} as the lab holds them now (None: the file's)."""
    rules = rules or security_groups(vpc)
    look = lambda group: members.get((vpc.vni, group), ())     # noqa: E731
    for group in eni_groups:
        found = security_group_matches(rules, [group])[direction]
        if any(admits(m, probe, peer_ip, look) for m in found):
            r = next(r for r in rules[group][direction]
                     if any(admits(m, probe, peer_ip, look) for m in matches(r, [r['peer']])))
            return Decision(True, f'{group}, {describe_rule(r, direction)}')
    return Decision(False, f'no {direction} rule of {", ".join(eni_groups) or "(no group)"} admits {probe} '
                           f'{"from" if direction == "inbound" else "to"} {peer_ip}')


def acl_decision(vpc, subnet, direction, probe, peer_ip):
    """The subnet's network ACL, one direction: the first rule by number that matches decides."""
    acl = vpc.network_acl_of(subnet)
    if acl is None:
        return Decision(True, 'the default network ACL allows all traffic')
    entries = sorted(acl_entries([rule_dict(r) for r in getattr(acl, direction)]), key=lambda e: -e[0])
    for priority, m, allow in entries:
        if admits(m, probe, peer_ip):
            number = ACL_PRIORITY_TOP - priority
            r = next(rule_dict(r) for r in getattr(acl, direction) if r.number == number)
            return Decision(allow, f'{acl.name} rule {number} {"allow" if allow else "deny"}: '
                                   f'{describe_rule(r, direction)}')
    return Decision(False, f'{acl.name} rule * deny: no rule matches {probe} '
                           f'{"from" if direction == "inbound" else "to"} {peer_ip}')


def inside(subnet, peer_ip):
    """The ACLs are not applied inside a subnet (the pipeline: the peer address is in the subnet's CIDR)."""
    return ipaddress.IPv4Address(peer_ip) in ipaddress.IPv4Network(subnet.cidr)


@dataclass(frozen=True)
class RouteChoice:
    route: object           # the model's Route, or None
    table: object           # the subnet's RouteTable
    reason: str | None      # the drop reason (route_decision), else None
    vpc: str | None         # the VPC the route sends the address to (its own, or the peer's); None: it
    #                         leaves the VPC (to the edge, or to Hyperplane)
    hyperplane: object = None  # a nat: route's NAT gateway (hyperplane_plan.Resource)


def route_choice(topo, vpc_name, subnet, ip):
    vpc = topo.vpcs[vpc_name]
    table = vpc.route_table_of(subnet)
    found = table.route_for(ip)
    if found is None:
        return RouteChoice(None, table, 'no-route', None)
    kind = edge_plan.target_kind(found.target)
    if edge_plan.uses_edge(vpc) and kind in edge_plan.EDGE_KINDS:
        return RouteChoice(found, table, None, None)
    if kind == 'nat':
        nat = next((r for r in hyperplane_plan.resources(topo) if r.kind == 'nat' and r.vpc == vpc_name
                    and r.name == found.target.partition(':')[2]), None)
        if nat is not None:
            return RouteChoice(found, table, None, None, nat)
    reason = route_decision(found.target)
    if reason:
        return RouteChoice(found, table, reason, None)
    there = vpc_name if found.target == 'local' else topo.peered_vpc_for(vpc_name, subnet, ip)
    return RouteChoice(found, table, None, there)


# ---- Hyperplane (controllers/router/hyperplane.py) --------------------------------------------

def hyperplane_address(topo, vpc_name, ip, probe):
    """The NLB or interface endpoint (hyperplane_plan.Resource) that answers at `ip` in the VPC for
    `probe` (a listener's protocol and port), which the route table sends to Hyperplane above every
    route; else None."""
    for r in hyperplane_plan.resources(topo):
        if r.kind in ('nlb', 'endpoint') and r.vpc == vpc_name and ip in r.ips and any(
                PROTOCOLS.get(probe.protocol) == (protocol or 'tcp') and probe.port == port
                for protocol, port, _, _ in r.listeners):
            return r
    return None


@dataclass(frozen=True)
class NodeChoice:
    resource: object        # hyperplane_plan.Resource
    bucket: int
    live: list              # its shard's live nodes
    node: str | None        # the node the flow goes to; None: no live node (no-live-node)


def node_choice(resource, client_ip, client_port, failed=()):
    """Which node of the resource's shard takes the flow of the client (its address and port; None: no
    ports), as the HYPERPLANE stage's buckets decide."""
    live = [n for n in resource.shard if n not in set(failed)]
    bucket = bucket_of(ipaddress.IPv4Address(client_ip).packed, client_port)
    return NodeChoice(resource, bucket, live, bucket_owner(resource.id, bucket, live))
