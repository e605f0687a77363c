"""Blackfoot on the wire: the packet loop's handler that turns frames into `Edge` decisions and
decisions back into frames.

One underlay interface carries Geneve or VXLAN from and to the physical hosts; each outside link
(the internet, the services network with S3, a site's VPN router, a site's DX router) is an
interface, and a DX interface may carry several connections, one VLAN each.  On outside links the
edge is the router: it answers every ARP request (proxy ARP), since hosts there send it everything
that is not on their own network, elastic IPs, private addresses behind endpoints and all.
"""
from dataclasses import dataclass
from typing import Optional

from testbed.appliances import packets as p
from testbed.appliances.blackfoot import Drop, Edge, ToHost, ToLink
from testbed.appliances.blackfoot_fast import VPC_ROUTER_MAC, FastPath
from testbed.appliances.tunnels import decapsulate, encapsulate


@dataclass(frozen=True)
class OutsideLink:
    name: str                   # 'internet', 'services', 'vpn:<connection>', 'dx:<connection>'
    ifname: str
    mac: bytes                  # the edge's MAC on it
    peer_mac: bytes             # the router or host at the other end
    vlan: Optional[int] = None  # DX: the connection's VLAN on a shared interface


@dataclass
class Underlay:
    ifname: str
    ip: bytes                   # the edge host's underlay address
    mac: bytes
    next_hop_mac: object        # bytes, or callable: host underlay ip -> MAC of the next hop
    encapsulation: str = 'geneve'

    def peer(self, host_ip):
        return self.next_hop_mac(host_ip) if callable(self.next_hop_mac) else self.next_hop_mac


class EdgeHandler:
    """handler(frame, ifname, vlan) for `PacketLoop`; its `counters` are the edge's."""

    def __init__(self, edge: Edge, underlay: Underlay, links, relays=()):
        self.edge, self.underlay, self.counters = edge, underlay, edge.counters
        self.relays = frozenset(relays)     # Hyperplane nodes' underlay addresses: Edge.relay
        self.links = {link.name: link for link in links}
        self.by_port = {(link.ifname, link.vlan): link for link in links}
        self.fast, self.underlay_ifname = FastPath(self), underlay.ifname
        self.fast_inbound, self.bind = self.fast.inbound, self.fast.bind
        self.fast_paths = {underlay.ifname: self.fast.outbound_drain}     # PacketLoop's ring fast path

    def __call__(self, frame, ifname, vlan):
        if ifname == self.underlay_ifname:      # what the ring fast path left (or a port without a ring)
            return self.from_underlay(frame, relay=bool(self.relays) and frame[26:30] in self.relays)
        if vlan is None:
            out = self.fast_inbound(ifname, frame)
            if out is not None:
                return out
        link = self.by_port.get((ifname, vlan)) or self.by_port.get((ifname, None))
        if link is None:
            self.counters['drop:unknown-link'] += 1
            return []
        return self.from_link(link, frame, vlan)

    def from_underlay(self, frame, relay=False):
        d = decapsulate(frame)
        if d is None:
            self.counters['drop:not-tunnel'] += 1
            return []
        packet = self._ipv4(d.inner)
        step = self.edge.relay if relay else self.edge.outbound
        return self.frames(step(d.vni, packet) if packet is not None else [])

    def from_link(self, link, frame, vlan):
        eth = p.parse_eth(frame)
        if eth.ethertype == p.ETH_P_ARP:
            return self._answer_arp(link, frame, eth.offset)
        packet = self._ipv4(frame)
        return self.frames(self.edge.inbound(link.name, packet, vlan) if packet is not None else [])

    def _ipv4(self, frame):
        """The IPv4 packet of an Ethernet frame without the frame's padding, else None (counted)."""
        eth = p.parse_eth(frame)
        ip = p.parse_ipv4(frame, eth.offset) if eth.ethertype == p.ETH_P_IP else None
        if ip is None:
            self.counters['drop:not-ipv4'] += 1
            return None
        return bytes(frame[eth.offset:eth.offset + ip.total_length])

    def _answer_arp(self, link, frame, offset):
        reply = p.proxy_arp_reply(frame, offset, link.mac)
        if reply is None:
            return []
        self.counters['arp-replies'] += 1
        return [(link.ifname, reply if link.vlan is None else p.push_vlan(reply, link.vlan))]

    def frames(self, actions):
        out = []
        for action in actions:
            if isinstance(action, ToHost):
                u = self.underlay
                inner = p.build_eth(action.mac, VPC_ROUTER_MAC, p.ETH_P_IP, action.packet)
                out.append((u.ifname, encapsulate(inner, action.vni, u.ip, action.host_ip, u.mac,
                                                  u.peer(action.host_ip), u.encapsulation)))
            elif isinstance(action, ToLink):
                link = self.links.get(action.link)
                if link is None:
                    self.counters['drop:link-not-built'] += 1
                    continue
                out.append((link.ifname, p.build_eth(link.peer_mac, link.mac, p.ETH_P_IP, action.packet,
                                                     vlan=action.vlan)))
            else:
                assert isinstance(action, Drop)     # counted by the edge already
        return out
