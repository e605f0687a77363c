"""The VPC's own services on the instance's physical host (docs/services.md, "How it is wired").

- DNS (UDP and TCP 53 to the VPC's base + 2 or 169.254.169.253) and metadata (TCP 80 to
  169.254.169.254) from an ENI's own MAC and address are steered in CLASSIFY to the host's service
  namespace, their source rewritten to the ENI's service address (100.126.X.Y, unique on the
  machine, so overlapping VPCs are told apart), and the answers rewritten back to the instance.
  They skip conntrack, security groups, network ACLs and flow logs, as in AWS; no TTL is
  decremented (the metadata hop limit relies on it).  The requests pass the ENI's own services meter:
  at most ENI_SERVICES_PPS packets a second, DNS and metadata together, as AWS limits each ENI; the
  rest is dropped (counted as services-throttled).  The meter comes and goes with the ENI's flows.
- DHCP (UDP 68 -> 67 from the ENI's MAC, from 0.0.0.0 to broadcast or from its own address) goes to
  the router, metered per ENI, which answers it with controllers/router/dhcp.py; nothing else from 0.0.0.0
  passes (the spoofed-source flows stay).
- An instance may not send to the service addresses (dropped: service-address), so they never
  leave the host.

A subnet's `services` entry in the controller configuration (vpc_cidr, domain, mtu) turns these on;
without it (unit tests' subnets) the ENI gets none of these flows.
"""
import ipaddress

from controllers import pipeline as P
from controllers.router import arp, dhcp, ofp
from testbed.services.addresses import (
    DNS_IP,
    DNS_PORT,
    ENI_BLOCK,
    METADATA_IP,
    METADATA_PORT,
    dns_server_ip,
    eni_address,
)

PRIORITY = 110                 # above the ENI's own IP flow (100)
GUARD_PRIORITY = 105           # the service-address drop: above the ENI's IP flow, below the steering
UDP, TCP = 17, 6
BLOCK = (str(ENI_BLOCK.network_address), str(ENI_BLOCK.netmask))
_REPLY_TYPE_AT = 14 + 20 + 8 + 236 + 4      # Ethernet, IPv4, UDP, BOOTP, magic: the first option (53)
_COUNTED = {dhcp.OFFER: 'dhcp_offers', dhcp.ACK: 'dhcp_acks', dhcp.NAK: 'dhcp_naks'}


def plug(e, port, subnet):
    """The service flows of ENI `e` on `port` (none if its subnet has no `services` entry)."""
    svc = subnet.get('services')
    if svc is None:
        return []
    owner = P.cookie(P.KIND_LOCAL, e.ident)
    me = eni_address(e.ident)
    own = dict(in_port=port, eth_src=e.mac, vlan_vid=ofp.NO_VLAN, eth_type=ofp.IP, ipv4_src=e.ip)
    there = [ofp.set_field(ipv4_src=me), ofp.set_field(eth_dst=P.SERVICE_MAC), ofp.output(P.SERVICE_PORT)]
    dns = dns_server_ip(svc['vpc_cidr'])
    asks = [(ip, proto, DNS_PORT) for ip in (dns, DNS_IP) for proto in (UDP, TCP)] + [(METADATA_IP, TCP, METADATA_PORT)]
    limit = P.eni_services_meter(e.ident)
    out = [ofp.meter(limit, P.ENI_SERVICES_PPS, P.ENI_SERVICES_BURST)]
    out += [ofp.flow(P.CLASSIFY, PRIORITY, ofp.match(**own, ip_proto=proto, ipv4_dst=ip,
                                                     **{'udp_dst' if proto == UDP else 'tcp_dst': l4}),
                     there, cookie=owner, meter=limit) for ip, proto, l4 in asks]
    back = [ofp.set_field(ipv4_dst=e.ip), ofp.set_field(eth_src=P.ROUTER_MAC), ofp.set_field(eth_dst=e.mac),
            ofp.output(port)]
    out.append(ofp.flow(P.CLASSIFY, PRIORITY, ofp.match(in_port=P.SERVICE_PORT, eth_type=ofp.IP, ipv4_dst=me),
                        back, cookie=owner))
    out.append(ofp.drop(P.CLASSIFY, GUARD_PRIORITY, ofp.match(**own, ipv4_dst=BLOCK), 'service-address'))
    # DHCP: at boot from 0.0.0.0 to broadcast, later from its own address (renewals, INFORM)
    asking = dict(in_port=port, eth_src=e.mac, vlan_vid=ofp.NO_VLAN, eth_type=ofp.IP, ip_proto=UDP,
                  udp_src=dhcp.CLIENT_PORT, udp_dst=dhcp.SERVER_PORT)
    # metered by the ENI's own packet-in meter: one tenant's flood delays nobody else's lease
    to_router = dict(actions=[ofp.to_controller()], meter=P.eni_packet_in_meter(e.ident),
                     cookie=P.cookie(P.KIND_DHCP, e.ident))
    out += [ofp.flow(P.CLASSIFY, PRIORITY, ofp.match(**asking, ipv4_src='0.0.0.0', ipv4_dst=dhcp.BROADCAST_IP),
                     **to_router),
            ofp.flow(P.CLASSIFY, PRIORITY, ofp.match(**asking, ipv4_src=e.ip), **to_router)]
    # ARP for the DNS server where it is on-link, and for the link-local services (an instance may
    # route them on-link): the VPC router answers, ARP goes to the ARP table with in_port kept
    on_link = [dns] if ipaddress.IPv4Address(dns) in ipaddress.IPv4Network(subnet['cidr']) else []
    out += [ofp.flow(P.ARP, PRIORITY, ofp.match(in_port=port, eth_type=ofp.ARP_TYPE, arp_op=1, arp_tpa=ip),
                     arp.reply(P.ROUTER_MAC, ip), cookie=owner) for ip in on_link + [DNS_IP, METADATA_IP]]
    return out


def unplug(e, subnet):
    """The ENI's services meter goes (after its flows: they go by their cookie)."""
    return [ofp.delete_meters(P.eni_services_meter(e.ident))] if 'services' in subnet else []


def on_dhcp(router, match, data):
    """The messages answering a DHCP request the switch sent up (the reply out of its port), and
    the router's counters: dhcp_offers, dhcp_acks, dhcp_naks, dhcp_ignored."""
    in_port = match['in_port']
    e = router.local_by_port(in_port)
    subnet = router.subnets.get(e.subnet) if e is not None else None
    svc = subnet.get('services') if subnet else None
    reply = None
    if svc is not None:
        lease = dhcp.lease_for(e.mac, e.ip, subnet['cidr'], svc['vpc_cidr'], svc['domain'], svc['mtu'])
        reply = dhcp.answer(bytes(data), lease)
    kind = _COUNTED.get(reply[_REPLY_TYPE_AT + 2]) if reply and reply[_REPLY_TYPE_AT] == dhcp.OPT_TYPE else None
    name = kind or 'dhcp_ignored'
    router.counters[name] = router.counters.get(name, 0) + 1
    return [ofp.packet_out(reply, [ofp.output(in_port)])] if kind else []
