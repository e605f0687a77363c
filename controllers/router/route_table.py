"""ROUTE_TABLE: the sender subnet's route table, longest prefix first.  The local route and
peerings go on to the mapping look-up, told which VPC the route goes to (REG_DST_VPC), so that two
peered VPCs with the same addresses are told apart by the route table; other targets are dropped with
the reason; routes to the edge's gateways (igw, vgw, dx:, vpce:) go to the edge (gateways.py), routes to a
NAT gateway (nat:) to its Hyperplane nodes (hyperplane.py)."""
import ipaddress

from controllers import pipeline as P
from controllers.router import gateways, ofp, rules

ROUTE_PRIORITY_BASE = 100         # a route to /N gets 100 + N: the longest prefix wins
UNBUILT_TARGETS = ('igw', 'nat', 'vgw', 'dx', 'vpce')   # gateways that a later feature builds


def route_decision(target):
    """None: on to the mapping lookup (the local route and peerings); else why it is dropped."""
    kind = target.split(':')[0]
    if target == 'local' or kind == 'pcx':
        return None
    if target == 'blackhole':
        return 'blackhole'
    if kind in UNBUILT_TARGETS:
        return 'target-not-built'
    raise ValueError(f'unknown route target {target!r}')


def route_entries(routes, own_vni):
    """[(priority, destination CIDR, drop reason or None, VNI of the VPC it goes to)]; no match at all is
    'no-route'.  The local route goes to the sender's own VPC, a pcx: route to the peered VPC (its `vni`)."""
    return [(ROUTE_PRIORITY_BASE + ipaddress.IPv4Network(r['destination']).prefixlen,
             r['destination'], route_decision(r['target']), r.get('vni', own_vni)) for r in routes]


def base():
    return [ofp.drop(P.ROUTE_TABLE, 0, ofp.match(), 'no-route')]


def subnet(s, hyperplane=None):
    """hyperplane: the Hyperplane the host knows (hyperplane.Hyperplane), for nat: routes."""
    out = gateways.check(s)
    for r, (priority, cidr, reason, vni) in zip(s['routes'], route_entries(s['routes'], s['vni'])):
        match = ofp.match(eth_type=ofp.IP, ipv4_dst=rules.net(cidr), **{P.REG_SUBNET: s['index']})
        if gateways.to_edge(s, r['target']):
            out += gateways.route(s, priority, match, r['target'])
            continue
        to_node = hyperplane and hyperplane.route(s, priority, match, r['target'])
        if to_node:
            out.append(to_node)
            continue
        out.append(ofp.flow(P.ROUTE_TABLE, priority, match, [ofp.set_field(**{P.REG_DST_VPC: vni})], goto=P.MAPPING,
                            cookie=P.cookie(P.KIND_FIREWALL))
                   if reason is None else ofp.drop(P.ROUTE_TABLE, priority, match, reason))
    return out
