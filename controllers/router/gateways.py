"""ROUTE_TABLE for the gateways the edge builds (igw, vgw, dx:, vpce:), and the receiving check's
door for what the edge sends back.

A route to one of these sends the packet, still the instance's own, encapsulated in its VPC's VNI
to the edge host's underlay address (the subnet's `edge_ip` in the controller configuration; without
it the route stays `target-not-built`, as `nat:` does until Hyperplane).  The edge is not a
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


def route(subnet, priority, match):
    """The route table's flow for a route to the edge: nothing on the sending side drops the packet
    after it, so a new connection is tracked (COMMIT) as MAPPING does for a local destination."""
    return ofp.flow(P.ROUTE_TABLE, priority, match,
                    [ofp.set_field(tunnel_id=subnet['vni']), ofp.set_field(tun_ipv4_dst=subnet['edge_ip']), COMMIT,
                     ofp.output(P.TUNNEL_PORT)], cookie=P.cookie(P.KIND_FIREWALL))


def check(subnet):
    """The receiving check's flow for the edge's packets in the subnet's VPC ([] without an edge)."""
    if not subnet.get('edge_ip'):
        return []
    match = ofp.match(in_port=P.TUNNEL_PORT, tunnel_id=subnet['vni'], tun_ipv4_src=subnet['edge_ip'],
                      eth_src=P.ROUTER_MAC, eth_type=ofp.IP)
    return [ofp.flow(P.CHECK, EDGE_CHECK_PRIORITY, match, metadata=subnet['vni'], goto=P.DESTINATION,
                     cookie=P.cookie(P.KIND_BASE))]
