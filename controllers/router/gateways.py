"""ROUTE_TABLE for the gateways the edge builds (igw, vgw, dx:, vpce:), and the receiving check's
door for what the edge sends back.

A route to one of these sends the packet, still the instance's own, encapsulated in its VPC's VNI
to the edge host's underlay address (the subnet's `edge_ip` in the controller configuration; without
it the route stays `target-not-built`, as `nat:` does until Hyperplane).  With several edge nodes
(`edge_ips`), routes to igw and vpce: are spread over them by the low bits of the inner source
address: every flow of an instance leaves through one node, the choice needs no OpenFlow group and
no state, and nothing depends on it, since Blackfoot's elastic-IP NAT and gateway endpoints keep no
per-flow state (a reply from the internet may come back through any node).  vgw and dx: go to the
first node, which alone holds the ESP tunnels and the Direct Connect trunks.  The edge is not a
registered source of any VPC address, so CHECK lets in what comes from the edge's underlay address
in the VNI of a VPC that has a way out, from the VPC router's MAC, whatever its inner source.
"""
from controllers import pipeline as P
from controllers.router import ofp
from controllers.router.mapping import COMMIT

EDGE_TARGETS = ('igw', 'vgw', 'dx', 'vpce')
EDGE_CHECK_PRIORITY = 90          # below the per-instance entries (100), which never name the edge


def to_edge(subnet, target):
    return bool(subnet.get('edge_ip')) and target.split(':')[0] in EDGE_TARGETS


SPREAD = ('igw', 'vpce')           # stateless on Blackfoot: any edge node will do


def buckets(n):
    """[(source-address low bits, mask)] splitting sources into a power of two >= n buckets."""
    size = 1 << max(0, n - 1).bit_length()
    return [(i, size - 1) for i in range(size)]


def route(subnet, priority, match, target='igw'):
    """The route table's flows for a route to the edge: nothing on the sending side drops the packet
    after it, so a new connection is tracked (COMMIT) as MAPPING does for a local destination."""
    ips = subnet.get('edge_ips') or [subnet['edge_ip']]
    if len(ips) == 1 or target.split(':')[0] not in SPREAD:
        return [_to(subnet, priority, match, subnet['edge_ip'])]
    fields = dict(match.items())
    return [_to(subnet, priority, ofp.match(**fields, ipv4_src=(_ip(bits), _ip(mask))), ips[bits % len(ips)])
            for bits, mask in buckets(len(ips))]


def _ip(n):
    return f'0.0.0.{n}' if n < 256 else '.'.join(str(n >> s & 0xff) for s in (24, 16, 8, 0))


def _to(subnet, priority, match, edge_ip):
    return ofp.flow(P.ROUTE_TABLE, priority, match,
                    [ofp.set_field(tunnel_id=subnet['vni']), ofp.set_field(tun_ipv4_dst=edge_ip), COMMIT,
                     ofp.output(P.TUNNEL_PORT)], cookie=P.cookie(P.KIND_FIREWALL))


def check(subnet):
    """The receiving check's flow for the edge's packets in the subnet's VPC ([] without an edge)."""
    if not subnet.get('edge_ip'):
        return []
    return [ofp.flow(P.CHECK, EDGE_CHECK_PRIORITY,
                     ofp.match(in_port=P.TUNNEL_PORT, tunnel_id=subnet['vni'], tun_ipv4_src=ip,
                               eth_src=P.ROUTER_MAC, eth_type=ofp.IP),
                     metadata=subnet['vni'], goto=P.DESTINATION, cookie=P.cookie(P.KIND_BASE))
            for ip in subnet.get('edge_ips') or [subnet['edge_ip']]]
