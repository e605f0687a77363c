"""Same-VPC traffic within a host, across hosts and across racks; identical IPs in two
VPCs stay apart; ARP is answered on the host and never crosses the underlay."""
import pytest
from conftest import topology

from testbed.lab import Lab
from testbed.observe import journey
from testbed.observe.capture import Capture


@pytest.fixture(scope='module')
def lab():
    with Lab(topology('two-tenants.yaml')) as lab:
        yield lab


def tcp_bytes(lab, client, server):
    """Bytes iperf3 moved in one second from client to server."""
    import json
    srv = lab.node(server.name)
    proc = srv.popen(['iperf3', '-s', '-1', '-p', '5201'])
    try:
        lab.wait_until(lambda: ':5201 ' in srv.cmd('ss -ltn'), what='iperf3 to listen')
        out = lab.node(client.name).cmd(f'iperf3 -c {server.ip} -p 5201 -t 1 -J')
        return json.loads(out)['end']['sum_received']['bytes']
    finally:
        proc.terminate()
        proc.wait()


@pytest.mark.parametrize('src,dst,where', [
    ('blue-1', 'blue-2', 'same host'),
    ('blue-1', 'blue-3', 'same rack'),
    ('blue-1', 'blue-4', 'across racks'),
    ('red-4', 'red-2', 'across racks, other tenant')])
def test_ping_and_tcp(lab, src, dst, where):
    a, b = lab.topology.instance(src), lab.topology.instance(dst)
    received, _, out = journey.ping(lab.node(a.name), b.ip, count=3)
    assert received == 3, f'{where}: {out}'
    assert tcp_bytes(lab, a, b) > 1_000_000, where


def test_identical_ips_stay_in_their_vpc(lab):
    topo = lab.topology
    blue1, blue4 = topo.instance('blue-1'), topo.instance('blue-4')
    red1, red4 = topo.instance('red-1'), topo.instance('red-4')
    for n in ('blue-1', 'red-1'):
        lab.node(n).cmd('ip neigh flush dev eth0')
    with Capture(lab.nic(blue4.host), journey.TUNNEL_BPF) as wire, \
            Capture('eth0', 'icmp', node=lab.node('red-4')) as red_sees:
        assert journey.ping(lab.node('blue-1'), blue4.ip, count=3)[0] == 3
    assert not [p for p in red_sees.packets if p.haslayer('ICMP')], \
        'red-4 saw blue traffic to its identical IP'
    with Capture(lab.nic(red4.host), journey.TUNNEL_BPF) as wire2:
        assert journey.ping(lab.node('red-1'), red4.ip, count=3)[0] == 3
    vnis = {s[2] for s in map(journey.tunnel_summary, wire.packets + wire2.packets) if s}
    assert vnis == {topo.vpcs['blue'].vni, topo.vpcs['red'].vni}
    assert journey.arp_entry(lab.node('blue-1'), blue4.ip) == blue4.mac
    assert journey.arp_entry(lab.node('red-1'), red4.ip) == red4.mac
    assert blue1.ip == red1.ip and blue4.ip == red4.ip


def test_no_arp_crosses_the_underlay(lab):
    topo = lab.topology
    caps = [Capture(lab.nic(h), 'arp') for h in topo.hosts]
    for c in caps:
        c.__enter__()
    try:
        for inst in topo.instances():
            lab.node(inst.name).cmd('ip neigh flush dev eth0')
        for src, dst in (('blue-1', 'blue-4'), ('red-3', 'red-1'), ('blue-2', 'blue-3')):
            assert journey.ping(lab.node(src), topo.instance(dst).ip, count=1)[0] == 1
    finally:
        arps = sum(len(c.stop()) for c in caps)
    assert arps == 0
    assert lab.api.metrics()['ofp_errors'] == []


def test_unknown_destination_dropped_with_reason(lab):
    blue1 = lab.topology.instance('blue-1')
    before = journey.drops(lab, blue1.host, 'no-mapping')
    lab.node('blue-1').cmd('ip neigh replace 10.0.1.200 lladdr 0e:00:00:00:00:99 dev eth0')
    assert journey.ping(lab.node('blue-1'), '10.0.1.200', count=2)[0] == 0
    lab.wait_until(lambda: journey.drops(lab, blue1.host, 'no-mapping') >= before + 2,
                   what='no-mapping drops to be counted')
