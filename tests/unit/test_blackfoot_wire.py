"""Blackfoot's handler: underlay and outside frames in, frames out (scapy builds and reads them)."""
import os
import shutil
import time

import pytest
from scapy.contrib.geneve import GENEVE
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Dot1Q, Ether
from test_blackfoot import BLUE, HOST1, MAC1, udp
from test_blackfoot import world as world  # noqa: F401  (the fixture)

from testbed.appliances import blackfoot_wire as bw
from testbed.appliances import packet_loop as pl
from testbed.appliances.packets import ip4, mac
from testbed.appliances.scratch_netns import ScratchNetns

EDGE_UL, TOR = mac('02:ed:00:00:00:01'), mac('02:70:00:00:00:01')
INET_EDGE, INET_PEER = mac('02:ed:00:00:01:01'), mac('02:1e:00:00:00:01')
DX_EDGE, DX_PEER = mac('02:ed:00:00:02:01'), mac('02:d0:00:00:00:01')


@pytest.fixture
def handler(world):  # noqa: F811
    links = [bw.OutsideLink('internet', 'inet0', INET_EDGE, INET_PEER),
             bw.OutsideLink('dx:corp-dx', 'dx0', DX_EDGE, DX_PEER, vlan=101)]
    return bw.EdgeHandler(world, bw.Underlay('ul0', ip4('100.127.0.100'), EDGE_UL, lambda host: TOR), links)


def from_host(inner_packet, vni=BLUE):
    inner = Ether(src='0e:00:00:00:01:0a', dst='0e:00:00:00:00:01') / IP(inner_packet)
    return bytes(Ether(src='02:70:00:00:00:01', dst='02:ed:00:00:00:01') / IP(src='100.127.0.1', dst='100.127.0.100')
                 / UDP(sport=49200, dport=6081) / GENEVE(vni=vni, proto=0x6558) / inner)


def test_underlay_to_the_internet_and_back_through_the_tunnel(handler):
    (ifname, frame), = handler(from_host(udp('10.0.1.10', '198.51.100.10')), 'ul0', None)
    q = Ether(frame)
    assert (ifname, q.src, q.dst, q[IP].src) == ('inet0', '02:ed:00:00:01:01', '02:1e:00:00:00:01', '203.0.113.5')
    reply = bytes(Ether(src='02:1e:00:00:00:01', dst='02:ed:00:00:01:01') / IP(udp('198.51.100.10', '203.0.113.5'))
                  / bytes(10))     # Ethernet padding after the IP packet is not part of it
    (ifname, frame), = handler(reply, 'inet0', None)
    q = Ether(frame)
    assert (ifname, q.dst, q[IP].src, q[IP].dst, q[GENEVE].vni) == ('ul0', '02:70:00:00:00:01', '100.127.0.100',
                                                                      '100.127.0.1', BLUE)
    inner = q[GENEVE].payload
    assert (inner.src, inner.dst, inner[IP].dst) == ('0e:00:00:00:00:01', MAC1.hex(':'), '10.0.1.10')
    assert len(inner[IP]) == inner[IP].len
    assert HOST1 == ip4(q[IP].dst)


def test_proxy_arp_on_outside_links(handler):
    ask = bytes(Ether(src='02:1e:00:00:00:01', dst='ff:ff:ff:ff:ff:ff')
                / ARP(op=1, hwsrc='02:1e:00:00:00:01', psrc='198.51.100.1', pdst='203.0.113.5'))
    (ifname, frame), = handler(ask, 'inet0', None)
    q = Ether(frame)
    assert (ifname, q[ARP].op, q[ARP].hwsrc, q[ARP].psrc) == ('inet0', 2, '02:ed:00:00:01:01', '203.0.113.5')
    gratuitous = bytes(Ether() / ARP(op=1, psrc='198.51.100.1', pdst='198.51.100.1'))
    assert handler(gratuitous, 'inet0', None) == []
    (_, frame), = handler(bytes(Ether() / ARP(op=1, psrc='172.16.0.5', pdst='10.0.1.10')), 'dx0', 101)
    assert Ether(frame)[Dot1Q].vlan == 101


def test_direct_connect_frames_carry_the_vlan(handler):
    (ifname, frame), = handler(from_host(udp('10.0.1.10', '172.16.0.5')), 'ul0', None)
    q = Ether(frame)
    assert (ifname, q[Dot1Q].vlan, q[IP].src) == ('dx0', 101, '10.0.1.10')
    untagged = bytes(Ether(src='02:d0:00:00:00:01', dst='02:ed:00:00:02:01') / IP(udp('172.16.0.5', '10.0.1.10')))
    (ifname, _), = handler(untagged, 'dx0', 101)      # the ring reported the tag
    assert ifname == 'ul0'


def test_what_cannot_be_handled_is_counted(handler, world):  # noqa: F811
    assert handler(bytes(Ether() / IP() / UDP(dport=53) / bytes(20)), 'ul0', None) == []
    assert handler(bytes(Ether(type=0x86dd) / bytes(40)), 'inet0', None) == []
    assert handler(bytes(Ether() / IP(udp('1.1.1.1', '203.0.113.5'))), 'eth9', None) == []
    assert handler(from_host(udp('10.0.1.10', '192.168.1.10')), 'ul0', None) == []      # no VPN link here
    assert handler(from_host(udp('10.0.1.11', '198.51.100.10')), 'ul0', None) == []
    assert {k: v for k, v in handler.counters.items() if k.startswith('drop:')} == {
        'drop:not-tunnel': 1, 'drop:not-ipv4': 1, 'drop:unknown-link': 1, 'drop:link-not-built': 1,
        'drop:no-elastic-ip': 1}
    assert handler.counters is world.counters


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which('ip') is None, reason='needs root and iproute2')
def test_the_handler_on_a_real_packet_loop(world):  # noqa: F811
    with ScratchNetns(pairs=2, tag=f'{os.getpid()}w') as ns:
        (ul, ul_peer), (inet, inet_peer) = ns.pairs
        links = [bw.OutsideLink('internet', inet, INET_EDGE, INET_PEER)]
        handler = bw.EdgeHandler(world, bw.Underlay(ul, ip4('100.127.0.100'), EDGE_UL, TOR), links)
        with ns.entered():
            loop = pl.PacketLoop.open([ul, inet], handler, frame_count=8)
            host, internet = pl.Port(ul_peer, frame_count=8), pl.Port(inet_peer, frame_count=8)
        try:
            host.send(from_host(udp('10.0.1.10', '198.51.100.10')))
            internet.send(bytes(Ether(src='02:1e:00:00:00:01', dst='02:ed:00:00:01:01')
                                     / IP(udp('198.51.100.10', '203.0.113.5'))))
            deadline, got = time.monotonic() + 5, {}
            while len(got) < 2 and time.monotonic() < deadline:
                loop.step()
                for port in (host, internet):
                    for frame, _, _ in port.receive(4):
                        got[port.name] = frame
                time.sleep(0.01)
        finally:
            loop.close()
            host.close()
            internet.close()
    assert Ether(got[inet_peer])[IP].src == '203.0.113.5'
    assert Ether(got[ul_peer])[GENEVE].payload[IP].dst == '10.0.1.10'
