"""MAPPING, steps 4-6: the host cache maps (VPC, destination IP) to the destination's physical host
and MAC; remote destinations are encapsulated (outer IP = that host, VNI = the sender's VPC) and
sent to the tunnel port, local ones go on to DESTINATION."""
from controllers import pipeline as P
from controllers.compat import ipv4
from controllers.router import ofp

COMMIT = ofp.resubmit_table(P.EGRESS_COMMIT)     # nothing on the sending side drops the packet after this


def base(reactive):
    """A miss is dropped; in reactive mode each local ENI's misses first go to the controller (plug)."""
    return [ofp.drop(P.MAPPING, 0, ofp.match(), 'no-mapping')]


def plug(e, reactive):
    """Reactive: e's misses ask the mapping service, metered per ENI (one ENI cannot keep the
    controller from another's misses)."""
    if not reactive:
        return []
    return [ofp.flow(P.MAPPING, 1, ofp.match(eth_type=ofp.IP, **{P.REG_SRC_ENI: e.ident}), [ofp.to_controller()],
                     meter=P.eni_packet_in_meter(e.ident), cookie=P.cookie(P.KIND_MISS, e.ident))]


def negative(vni, target, ip):
    """Reactive: the mapping service said `ip` is nobody in `target`: drop such packets in the switch
    for a while instead of asking again."""
    return ofp.drop(P.MAPPING, 50, ofp.match(metadata=vni, eth_type=ofp.IP, ipv4_dst=ip, **{P.REG_DST_VPC: target}),
                    'no-mapping', hard_timeout=P.NEGATIVE_S)


def cache_entry(e, senders, here):
    """Where e lives, for each local VPC that may send to it (its own, or a peer: keyed by the
    sender's VNI, which is also the VNI on the wire), when the sender's route table sends there
    (REG_DST_VPC = e's VPC).  The destination MAC tells the receiving DESTINATION which peer it is."""
    owner, out = P.cookie(P.KIND_CACHE, e.ident), []
    for vni in sorted(senders):
        match = ofp.match(metadata=vni, eth_type=ofp.IP, ipv4_dst=e.ip, **{P.REG_DST_VPC: e.vni})
        if e.host == here:
            out.append(ofp.flow(P.MAPPING, 100, match, [ofp.set_field(eth_dst=e.mac), COMMIT], goto=P.DESTINATION,
                                cookie=owner))
        else:
            out.append(ofp.flow(P.MAPPING, 100, match,
                                [ofp.set_field(eth_dst=e.mac), ofp.set_field(tunnel_id=vni),
                                 ofp.set_field(tun_ipv4_dst=e.host_ip), COMMIT, ofp.output(P.TUNNEL_PORT)],
                                cookie=owner))
    return out


def on_miss(vni, target, pkt, lookup):
    """Reactive steps 4-5: (the entry of the destination in the VPC `target` that the route table
    chose (the sender's own or a peer) or None (dropped: no-mapping), the negative-cache flow for None)."""
    ip = pkt.get_protocol(ipv4.ipv4)
    if ip is None:
        return None, None
    entry = lookup(vni, ip.dst, target=target)
    return entry, None if entry else negative(vni, target, ip.dst)
