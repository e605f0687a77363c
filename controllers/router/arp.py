"""ARP, steps 1-3: ARP never leaves the host.  The host cache answers for the instances of the
sender's VPC, the VPC router for each subnet's gateway (.1); the reply is built in the switch."""
from controllers import pipeline as P
from controllers.compat import arp
from controllers.router import ofp


def reply(mac, ip):
    """Actions that turn an ARP request for `ip` into the reply `ip is-at mac`, out the port it
    came in.  The only place a reply is built: a reactive miss resubmits the request once the
    responder flow is in place."""
    return [ofp.move('eth_src', 'eth_dst', 48), ofp.set_field(eth_src=mac), ofp.set_field(arp_op=2),
            ofp.move('arp_sha', 'arp_tha', 48), ofp.move('arp_spa', 'arp_tpa', 32),
            ofp.set_field(arp_sha=mac), ofp.set_field(arp_spa=ip), ofp.output(ofp.ofp.OFPP_IN_PORT)]


def responder(vni, ip, mac, cookie):
    return ofp.flow(P.ARP, 100, ofp.match(metadata=vni, eth_type=ofp.ARP_TYPE, arp_op=1, arp_tpa=ip),
                    reply(mac, ip), cookie=cookie)


def base(reactive):
    """A request nobody answers is dropped; in reactive mode each local ENI's first go to the controller
    (plug)."""
    return [ofp.drop(P.ARP, 0, ofp.match(), 'arp-unknown-target')]


def plug(e, reactive):
    """Reactive: e's unanswered requests ask the mapping service, metered per ENI."""
    if not reactive:
        return []
    return [ofp.flow(P.ARP, 1, ofp.match(eth_type=ofp.ARP_TYPE, **{P.REG_SRC_ENI: e.ident}), [ofp.to_controller()],
                     meter=P.eni_packet_in_meter(e.ident), cookie=P.cookie(P.KIND_MISS, e.ident))]


def negative(vni, ip):
    """Reactive: `ip` is nobody in VPC `vni`: the switch drops requests for it for a while."""
    return ofp.drop(P.ARP, 50, ofp.match(metadata=vni, eth_type=ofp.ARP_TYPE, arp_op=1, arp_tpa=ip),
                    'arp-unknown-target', hard_timeout=P.NEGATIVE_S)


def gateway(vni, gateway_ip):
    return [responder(vni, gateway_ip, P.ROUTER_MAC, P.cookie(P.KIND_GATEWAY))]


def cache_entry(e, senders):
    """The synthetic reply for e, for senders of e's own VPC only (peers route, they do not ARP)."""
    return [responder(e.vni, e.ip, e.mac, P.cookie(P.KIND_CACHE, e.ident))] if e.vni in senders else []


def on_miss(vni, pkt, lookup):
    """Reactive steps 2-3: (the entry to cache for a request the host could not answer or None
    (dropped: arp-unknown-target), the negative-cache flow for None)."""
    req = pkt.get_protocol(arp.arp)
    if req is None or req.opcode != arp.ARP_REQUEST:
        return None, None
    entry = lookup(vni, req.dst_ip, peered=False)
    return entry, None if entry else negative(vni, req.dst_ip)
