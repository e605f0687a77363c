"""MAPPING, steps 4-6: the host cache maps (VPC, destination IP) to the destination's physical host
and MAC; remote destinations are encapsulated (outer IP = that host, VNI = the sender's VPC) and
sent to the tunnel port, local ones go on to DESTINATION."""
from controllers import pipeline as P
from controllers.compat import ipv4
from controllers.router import ofp


def base(reactive):
    if reactive:
        return [ofp.flow(P.MAPPING, 0, ofp.match(), [ofp.to_controller()], cookie=P.cookie(P.KIND_MISS, P.MAPPING))]
    return [ofp.drop(P.MAPPING, 0, ofp.match(), 'no-mapping')]


def cache_entry(e, senders, here):
    """Where e lives, for each local VPC that may send to it (its own, or a peer: keyed by the
    sender's VNI, which is also the VNI on the wire), when the sender's route table sends there
    (REG_DST_VPC = e's VPC).  The destination MAC tells the receiving DESTINATION which peer it is."""
    owner, out = P.cookie(P.KIND_CACHE, e.ident), []
    for vni in sorted(senders):
        match = ofp.match(metadata=vni, eth_type=ofp.IP, ipv4_dst=e.ip, **{P.REG_DST_VPC: e.vni})
        if e.host == here:
            out.append(ofp.flow(P.MAPPING, 100, match, [ofp.set_field(eth_dst=e.mac)], goto=P.DESTINATION,
                                cookie=owner))
        else:
            out.append(ofp.flow(P.MAPPING, 100, match,
                                [ofp.set_field(eth_dst=e.mac), ofp.set_field(tunnel_id=vni),
                                 ofp.set_field(tun_ipv4_dst=e.host_ip), ofp.output(P.TUNNEL_PORT)],
                                cookie=owner))
    return out


def on_miss(vni, target, pkt, lookup):
    """Reactive steps 4-5: the entry of the destination in the VPC `target` that the route table
    chose (the sender's own or a peer), or None (dropped: no-mapping)."""
    ip = pkt.get_protocol(ipv4.ipv4)
    return lookup(vni, ip.dst, target=target) if ip else None
