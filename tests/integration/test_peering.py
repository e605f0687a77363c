"""Peering allows exactly the peered pair; traffic to an unpeered VPC is dropped at the
sender (VXLAN topology, so both encapsulations are exercised)."""
import pytest
from conftest import topology

from testbed.lab import Lab
from testbed.observe import journey
from testbed.observe.capture import Capture


@pytest.fixture(scope='module')
def lab():
    with Lab(topology('peering.yaml')) as lab:
        yield lab


@pytest.mark.parametrize('src,dst,reachable', [
    ('blue-1', 'green-1', True),    # peered, across hosts
    ('green-1', 'blue-1', True),
    ('blue-1', 'green-2', True),    # peered, same host
    ('red-1', 'green-1', False),    # red has blue's CIDR but no peering
    ('green-1', 'red-1', False),
])
def test_peering(lab, src, dst, reachable):
    a, b = lab.topology.instance(src), lab.topology.instance(dst)
    received, _, out = journey.ping(lab.node(a.name), b.ip, count=2)
    assert (received == 2) == reachable, out


def test_unpeered_traffic_never_reaches_the_underlay(lab):
    red, green = lab.topology.instance('red-1'), lab.topology.instance('green-1')
    # red's main route table has only its local route: no route to green's CIDR
    before = journey.drops(lab, red.host, 'no-route')
    with Capture(lab.nic(red.host), journey.TUNNEL_BPF) as wire:
        assert journey.ping(lab.node(red.name), green.ip, count=2)[0] == 0
    assert wire.packets == []
    lab.wait_until(lambda: journey.drops(lab, red.host, 'no-route') >= before + 2,
                   what='no-route drops at the sender')


def test_vxlan_carries_the_sender_vni(lab):
    blue, green = lab.topology.instance('blue-1'), lab.topology.instance('green-1')
    with Capture(lab.nic(blue.host), 'udp port 4789') as wire:
        assert journey.ping(lab.node(blue.name), green.ip, count=1)[0] == 1
    vnis = {s[0:3] for s in map(journey.tunnel_summary, wire.packets) if s}
    b_ip = lab.topology.hosts[blue.host].underlay_ip
    g_ip = lab.topology.hosts[green.host].underlay_ip
    assert vnis == {(b_ip, g_ip, lab.topology.vpcs['blue'].vni),
                    (g_ip, b_ip, lab.topology.vpcs['green'].vni)}
