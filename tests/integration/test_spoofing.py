"""Anti-spoofing where packets enter, and the receiving side's check (step 7 of docs/journey.md):
forged packets are dropped, counted and alerted, while real traffic keeps flowing."""
import subprocess

import pytest
from conftest import topology

from controllers import pipeline as P
from testbed.lab import Lab
from testbed.observe import journey
from testbed.observe.capture import Capture

CRAFTED = 'icmp[0] == 8 and icmp[4:2] == 0x7a7a'   # echo requests testbed.observe.craft made


@pytest.fixture(scope='module')
def lab():
    with Lab(topology('default.yaml')) as lab:
        yield lab


def alerts_for(lab, reason):
    return [a for a in lab.api.alerts() if a['reason'] == reason]


def test_forged_source_ip_and_mac_are_dropped_while_real_traffic_flows(lab):
    topo = lab.topology
    a, b = topo.instance('web-1'), topo.instance('web-2')
    before = journey.drops(lab, a.host, 'spoofed-source')
    pinger = lab.node(a.name).popen(['ping', '-n', '-c', '20', '-i', '0.05', b.ip],
                                    stdout=subprocess.PIPE, text=True)
    with Capture('eth0', CRAFTED, node=lab.node(b.name)) as victim:
        journey.send_spoofed(lab, a, b, src_ip='10.0.1.99', count=3)
        journey.send_spoofed(lab, a, b, src_mac='0e:66:66:66:66:66', count=3)
        journey.send_spoofed(lab, a, b, src_ip='10.0.1.11', src_mac='0e:66:66:66:66:67',
                             count=3)
    out = pinger.communicate()[0]
    assert ' 0% packet loss' in out, out
    assert victim.packets == [], 'a spoofed packet reached its target'
    lab.wait_until(lambda: journey.drops(lab, a.host, 'spoofed-source') >= before + 9,
                   what=f'9 spoofed-source drops on {a.host}')
    details = ' '.join(x['detail'] for x in alerts_for(lab, 'spoofed-source'))
    assert '10.0.1.99' in details and '0e:66:66:66:66:66' in details


def test_forged_encapsulated_packets_are_dropped_and_alerted(lab):
    topo = lab.topology
    web1, web2, red1 = (topo.instance(n) for n in ('web-1', 'web-2', 'red-1'))
    before = journey.drops(lab, web2.host, 'unregistered-source')
    with Capture('eth0', CRAFTED, node=lab.node(web2.name)) as victim:
        # web-1's real address, but from a host it does not run on
        journey.inject_tunnel(lab, web2, topo.vpcs['blue'].vni, 'r1-h2', web1.ip, web1.mac)
        # red-1's VNI with blue's web-1 as inner source (the right host, the wrong VPC)
        journey.inject_tunnel(lab, web2, topo.vpcs['red'].vni, red1.host, web1.ip, web1.mac)
        # a source nobody registered
        journey.inject_tunnel(lab, web2, topo.vpcs['blue'].vni, web1.host, '10.0.1.77',
                              '0e:77:77:77:77:77')
        assert journey.ping(lab.node(web1.name), web2.ip, count=2)[0] == 2
    assert victim.packets == []
    lab.wait_until(lambda: journey.drops(lab, web2.host, 'unregistered-source') >= before + 9,
                   what=f'9 unregistered-source drops on {web2.host}')
    details = [x['detail'] for x in alerts_for(lab, 'unregistered-source')]
    assert any('runs on r1-h1' in d and '100.127.0.2' in d for d in details), details
    assert any(f'VNI {topo.vpcs["red"].vni}' in d for d in details), details
    assert any('10.0.1.77' in d for d in details), details


def test_a_genuine_encapsulated_packet_is_delivered(lab):
    """The check is not just dropping everything crafted: the right (host, VNI, IP, MAC)
    passes."""
    topo = lab.topology
    web1, web2 = topo.instance('web-1'), topo.instance('web-2')
    check = [f'tun_src={topo.hosts[web1.host].underlay_ip}', f'nw_src={web1.ip}']
    before = journey.flow_packets(lab, web2.host, P.CHECK, check)
    with Capture('eth0', CRAFTED, node=lab.node(web2.name)) as victim:
        journey.inject_tunnel(lab, web2, topo.vpcs['blue'].vni, web1.host, web1.ip, web1.mac)
        lab.wait_until(lambda: journey.flow_packets(lab, web2.host, P.CHECK, check) >= before + 3,
                       what='the receiving check to pass 3 packets')
    assert len(victim.packets) == 3

