"""The site's VPN router against Blackfoot's edge: the same keys on both ends, packets both ways."""
import json

import pytest
from scapy.layers.inet import IP
from scapy.layers.l2 import ARP, Ether
from test_blackfoot import BLUE, HOST1, udp
from test_blackfoot import world as world  # noqa: F401  (the fixture)

from testbed.appliances import blackfoot as bf
from testbed.appliances import site_vpn
from testbed.appliances.packets import ETH_P_IP, build_eth, mac

WAN_MAC, WAN_PEER = '02:5e:00:00:00:01', '02:ed:00:00:03:01'
LAN_MAC, LAN_PEER = '02:5e:00:00:01:01', '02:c0:00:00:00:0a'


@pytest.fixture
def site(monkeypatch):
    monkeypatch.setenv('VPCLAB_SITE_VPN', json.dumps(dict(
        topology='demo', connection='corp-vpn', edge_ip='100.64.0.1', site_ip='100.64.0.2', vpc_cidrs=['10.0.0.0/16'],
        wan_mac=WAN_MAC, wan_peer_mac=WAN_PEER, lan_mac=LAN_MAC, lan_peer_mac=LAN_PEER)))
    return site_vpn.from_env(['wan0', 'lan0'])


def test_edge_to_site_and_back(world, site):  # noqa: F811
    sealed = world.outbound(BLUE, udp('10.0.1.10', '192.168.1.10'))[0]
    assert isinstance(sealed, bf.ToLink)
    (ifname, frame), = site(build_eth(mac(WAN_MAC), mac(WAN_PEER), ETH_P_IP, sealed.packet), 'wan0', None)
    q = Ether(frame)
    assert (ifname, q.dst, q.src, q[IP].src, q[IP].dst) == ('lan0', LAN_PEER, LAN_MAC, '10.0.1.10', '192.168.1.10')
    reply = build_eth(mac(LAN_MAC), mac(LAN_PEER), ETH_P_IP, udp('192.168.1.10', '10.0.1.10'))
    (ifname, frame), = site(reply, 'lan0', None)
    assert ifname == 'wan0' and Ether(frame)[IP].proto == 50
    back = world.inbound('vpn:corp-vpn', bytes(Ether(frame)[IP]))[0]
    assert isinstance(back, bf.ToHost) and back.host_ip == HOST1
    assert site.counters == {'opened': 1, 'sealed': 1}


def test_what_the_site_router_refuses_or_answers(site):
    to_internet = build_eth(mac(LAN_MAC), mac(LAN_PEER), ETH_P_IP, udp('192.168.1.10', '8.8.8.8'))
    assert site(to_internet, 'lan0', None) == []
    assert site(build_eth(mac(WAN_MAC), mac(WAN_PEER), ETH_P_IP, udp('100.64.0.1', '100.64.0.2')), 'wan0', None) == []
    assert site(bytes(Ether(type=0x86dd) / bytes(40)), 'lan0', None) == []
    assert site.counters == {'drop:not-to-a-vpc': 1, 'drop:esp-not-esp': 1, 'drop:not-ipv4': 1}
    ask = bytes(Ether(src=LAN_PEER, dst='ff:ff:ff:ff:ff:ff') / ARP(hwsrc=LAN_PEER, psrc='192.168.1.10',
                                                                   pdst='192.168.1.1'))
    (ifname, frame), = site(ask, 'lan0', None)
    assert ifname == 'lan0' and Ether(frame)[ARP].hwsrc == LAN_MAC
