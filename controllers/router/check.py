"""CHECK, step 7, the receiving check: is (VNI, inner source IP, inner source MAC) registered on the
physical host the packet came from (outer source IP)?  Else it is dropped and an alert says why."""
from controllers import pipeline as P
from controllers.alerts import Alert
from controllers.compat import ethernet, ipv4
from controllers.router import ofp


def base(reactive):
    """A miss goes to the controller, which checks with the mapping service and alerts; in
    proactive mode it is a counted drop whose samples are metered."""
    # an instance never sends a tagged frame (CLASSIFY drops them): one from the tunnel is not theirs
    tagged = ofp.drop(P.CHECK, 200, ofp.match(vlan_vid=ofp.ANY_VLAN), 'unsupported-protocol')
    if reactive:
        # a tenant cannot make these at will (a new remote sender each time): one meter per host
        return [tagged, ofp.flow(P.CHECK, 0, ofp.match(), [ofp.to_controller()], meter=P.CHECK_MISS_METER,
                                 cookie=P.cookie(P.KIND_MISS, P.CHECK))]
    return [tagged, ofp.drop(P.CHECK, 0, ofp.match(), 'unregistered-source', [ofp.to_controller()],
                             meter=P.ALERT_METER)]


def cache_entry(e, here):
    """Packets from e are accepted only from e's host, VNI, IP and MAC."""
    if e.host == here:
        return []
    return [ofp.flow(P.CHECK, 100, ofp.match(in_port=P.TUNNEL_PORT, tunnel_id=e.vni, tun_ipv4_src=e.host_ip,
                                             eth_src=e.mac, vlan_vid=ofp.NO_VLAN,
                                             eth_type=ofp.IP, ipv4_src=e.ip),
                     metadata=e.vni, goto=P.DESTINATION, cookie=P.cookie(P.KIND_CACHE, e.ident))]


def on_miss(match, pkt, lookup, reactive):
    """(entry, None) when the inner source is registered where the packet came from (reactive:
    cache it and resubmit); else (None, the alert saying why)."""
    vni, tun_src = match.get('tunnel_id'), match.get('tun_ipv4_src')
    eth, ip = pkt.get_protocol(ethernet.ethernet), pkt.get_protocol(ipv4.ipv4)
    src_ip = ip.src if ip else None
    entry = lookup(vni, src_ip, peered=False, subscribe=reactive) if ip else None
    if entry is not None and registered(entry, match, pkt):
        return entry, None
    if entry is None:
        why = f'VNI {vni} has no instance {src_ip}'
    elif entry.host_ip != tun_src:
        why = f'{src_ip} (VNI {vni}) runs on {entry.host} ({entry.host_ip}), but the packet came from {tun_src}'
    else:
        why = f'{src_ip} (VNI {vni}) has MAC {entry.mac}, the packet says {eth.src}'
    return None, Alert('unregistered-source', f'{tun_src}/{vni}/{src_ip}', 'encapsulated packet dropped: ' + why)


def registered(entry, match, pkt):
    """Does `entry` say the packet's inner source may come from where it came?"""
    return entry.host_ip == match.get('tun_ipv4_src') and entry.mac == pkt.get_protocol(ethernet.ethernet).src


def resubmit(data, match):
    """The checked packet again, with the tunnel metadata a packet-out does not keep."""
    return ofp.resubmit(data, P.TUNNEL_PORT, ofp.set_field(tunnel_id=match.get('tunnel_id')),
                        ofp.set_field(tun_ipv4_src=match.get('tun_ipv4_src')))
