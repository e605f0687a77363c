"""The on-premises site's VPN router: the other end of Blackfoot's ESP tunnel, on the same loop.

    python -m testbed.appliances.packet_loop WAN LAN --handler testbed.appliances.site_vpn:from_env

It has two interfaces: `wan` toward Blackfoot (ESP packets between the tunnel endpoints) and `lan`
toward the site's hosts.  Packets from the LAN to a VPC CIDR are sealed and sent over the WAN;
ESP from the WAN is opened and sent into the LAN.  It answers every ARP request on both sides
(proxy ARP), being the site's router to the VPCs and the edge's next hop.
"""
import ipaddress
import json
import os
from collections import Counter

from testbed.appliances import esp
from testbed.appliances import packets as p


class SiteVpnHandler:
    def __init__(self, tunnel, wan, lan, vpc_cidrs):
        """`tunnel`: esp.Tunnel(site -> edge SA, edge -> site SA); `wan`, `lan`: (ifname, own MAC,
        peer MAC); `vpc_cidrs`: what goes into the tunnel."""
        self.tunnel, self.wan, self.lan = tunnel, wan, lan
        self.vpcs = [ipaddress.ip_network(c) for c in vpc_cidrs]
        self.counters = Counter()

    def __call__(self, frame, ifname, vlan):
        side, other = (self.wan, self.lan) if ifname == self.wan[0] else (self.lan, self.wan)
        eth = p.parse_eth(frame)
        if eth.ethertype == p.ETH_P_ARP:
            reply = p.proxy_arp_reply(frame, eth.offset, side[1])
            return [(side[0], reply)] if reply else []
        ip = p.parse_ipv4(frame, eth.offset) if eth.ethertype == p.ETH_P_IP else None
        if ip is None:
            self.counters['drop:not-ipv4'] += 1
            return []
        packet = bytes(frame[eth.offset:eth.offset + ip.total_length])
        try:
            if side is self.wan:
                out = self.tunnel.open(packet)
            elif any(ipaddress.ip_address(ip.dst) in net for net in self.vpcs):
                out = self.tunnel.seal(packet)
            else:
                self.counters['drop:not-to-a-vpc'] += 1
                return []
        except esp.EspError as e:
            self.counters[f'drop:{e.reason}'] += 1
            return []
        self.counters['sealed' if side is self.lan else 'opened'] += 1
        return [(other[0], p.build_eth(other[2], other[1], p.ETH_P_IP, out))]


def from_env(interfaces):
    """The handler from VPCLAB_SITE_VPN, a JSON object: topology, connection, edge_ip, site_ip,
    vpc_cidrs, wan_mac, wan_peer_mac, lan_mac, lan_peer_mac (the loop's factory interface)."""
    c = json.loads(os.environ['VPCLAB_SITE_VPN'])
    to_site, to_edge = esp.sa_pair(c['topology'], c['connection'], p.ip4(c['edge_ip']), p.ip4(c['site_ip']))
    wan, lan = interfaces
    return SiteVpnHandler(esp.Tunnel(to_edge, to_site), (wan, p.mac(c['wan_mac']), p.mac(c['wan_peer_mac'])),
                          (lan, p.mac(c['lan_mac']), p.mac(c['lan_peer_mac'])), c['vpc_cidrs'])
