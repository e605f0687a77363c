"""Isolation between tenants with real packets (issue 14 items 2-4), on topologies/isolation.yaml:

    hub-1 (r1-h1), hub-2 (r1-h2)            hub 10.0.0.0/16, routes 10.1.0.0/17 -> spoke-a, 10.1.128.0/17 -> spoke-b
    a-1 10.1.0.10 (r1-h2), a-2 10.1.200.10  spoke-a (alice); a-low's ACL denies udp 6000
    b-1 10.1.0.10 (r1-h2), b-2 10.1.200.10  spoke-b (bob): the same addresses

Misdelivery: the hub reaches the spoke its route table names, never the other, in both modes.
Denial of service: a-1's flood does not stop b-1's new connections or hide b-1's alert, and a
zone's connections are capped.  VLAN-tagged frames and fragments under a network ACL.
Assertions are on counts of packets and connections, never on timing.
"""
import contextlib
import re
import subprocess
import sys

import pytest
from conftest import topology

from controllers import pipeline as P
from experiments import flood, isolation
from testbed.fabric import conntrack
from testbed.lab import Lab
from testbed.observe import journey
from testbed.observe.capture import Capture

ECHO_FROM = 'icmp[0] == 8 and src host {}'


@pytest.fixture(scope='module')
def lab():
    with Lab(topology('isolation.yaml')) as lab:
        yield lab


def inst(lab, name):
    return lab.topology.instance(name)


def echoes_seen(lab, sender, ip, receivers, count=3):
    """How many of `sender`'s echo requests to ip each receiver's eth0 saw (and how many were answered)."""
    bpf = ECHO_FROM.format(inst(lab, sender).ip)
    with contextlib.ExitStack() as stack:
        caps = {r: stack.enter_context(Capture('eth0', bpf, node=lab.node(r))) for r in receivers}
        answered = journey.ping(lab.node(sender), ip, count=count, interval=0.1)[0]
    return answered, {r: len(c.packets) for r, c in caps.items()}


ROUTED = [('hub-1', '10.1.0.10', 'a-1', 'b-1'),      # 10.1.0.0/17 -> pcx:hub-a, across hosts
          ('hub-1', '10.1.200.10', 'b-2', 'a-2'),    # 10.1.128.0/17 -> pcx:hub-b
          ('hub-2', '10.1.0.10', 'a-1', 'b-1')]      # on the host where both spokes have 10.1.0.10


@pytest.mark.parametrize('sender,ip,right,wrong', ROUTED)
def test_the_hub_reaches_the_spoke_its_route_table_names_and_never_the_other(lab, sender, ip, right, wrong):
    answered, seen = echoes_seen(lab, sender, ip, (right, wrong))
    assert (answered, seen) == (3, {right: 3, wrong: 0})


# ---- item 4: VLAN tags and fragments --------------------------------------------------------------

def test_a_vlan_tagged_frame_from_an_instance_is_dropped_as_unsupported(lab):
    a1, a2 = inst(lab, 'a-1'), inst(lab, 'a-2')
    before = journey.drops(lab, a1.host, 'unsupported-protocol')
    with Capture('eth0', 'vlan or icmp', node=lab.node('a-2')) as seen:
        lab.node('a-1').cmd(f"{sys.executable} -c '{isolation.TAGGED}' 3 {a1.mac} {a1.ip} {a2.ip} "
                            f"{isolation.ROUTER_MAC}")
        lab.wait_until(lambda: journey.drops(lab, a1.host, 'unsupported-protocol') >= before + 3,
                       what='unsupported-protocol drops')
    assert seen.packets == []
    assert journey.ping(lab.node('a-1'), a2.ip, count=1)[0] == 1           # untagged goes through


def fragments(lab, src, dst, port):
    """How many fragments of a fragmented datagram to dst:port reached dst."""
    s, d = inst(lab, src), inst(lab, dst)
    bpf = f'src host {s.ip} and ip[6:2] & 0x3fff != 0'
    with Capture('eth0', bpf, node=lab.node(dst)) as seen:
        lab.node(src).cmd(f'{sys.executable} -m testbed.observe.craft fragments --iface eth0 --count 1 '
                          f'--src-mac {s.mac} --dst-mac 0e:00:00:00:00:01 --src-ip {s.ip} --dst-ip {d.ip} '
                          f'--dport {port}')
        subprocess.run(['sleep', '0.5'])
    return len(seen.packets)


def test_an_acl_deny_on_one_port_does_not_drop_the_fragments_of_another(lab):
    assert fragments(lab, 'hub-1', 'a-1', 5000) == 3      # all fragments, reassembled for tracking
    assert fragments(lab, 'hub-1', 'a-1', 6000) == 0      # denied: the first, and the rest never complete


# ---- item 3: a tenant's flood ------------------------------------------------------------------

def b_connects_during_a_flood(lab, connections=20):
    """(succeeded, failed) of b-1's new connections to b-2 while a-1 floods."""
    server = flood.serve(lab, 'b-2')
    attack = flood.flood(lab, 'a-1', 'a-2', 8)
    try:
        ok = failed = 0
        for _ in range(connections):
            out = lab.node('b-1').cmd(f'{sys.executable} -c "import socket; '
                                      f'socket.create_connection((\'{inst(lab, "b-2").ip}\', {flood.PORT}), '
                                      f'timeout=3).close(); print(\'connected\')"')
            ok, failed = (ok + 1, failed) if 'connected' in out else (ok, failed + 1)
        assert int(flood.finish(attack, timeout=60).split()[-1]) > 1000      # the flood did run
        return ok, failed
    finally:
        if attack.poll() is None:
            attack.kill()
            attack.wait()
        server.terminate()
        server.wait()


def test_a_flood_from_one_tenant_does_not_stop_another_s_new_connections(lab):
    assert b_connects_during_a_flood(lab) == (20, 0)


def test_a_flood_of_spoofed_packets_does_not_hide_another_tenant_s_alert(lab):
    attack = flood.flood(lab, 'a-1', 'a-2', 6)
    try:
        assert flood.spoof_alerted(lab, 'b-1', '10.1.77.78', seconds=3)
    finally:
        flood.finish(attack)
    assert any('10.1.99.99' in a['source'] for a in lab.api.alerts())      # a-1's were raised too


def zone_limits(zone=None):
    args = ['dpctl/ct-get-limits'] + ([f'zone={zone}'] if zone is not None else [])
    return conntrack.appctl(*args)


def zone_count(zone):
    return int(re.search(rf'zone={zone},limit=\d+,count=(\d+)', zone_limits(zone)).group(1))


def test_each_eni_s_conntrack_zone_is_capped_and_a_full_zone_stops_only_its_owner(lab):
    zones = {e['instance']: e['ident'] for e in lab.api.mappings()}
    shown = zone_limits(','.join(map(str, zones.values())))
    assert all(f'zone={z},limit={P.CT_ZONE_LIMIT},' in shown for z in zones.values()), shown
    zone = zones['a-1']
    before = zone_count(zone)
    assert before <= P.CT_ZONE_LIMIT             # after the floods of the tests above
    conntrack.appctl('dpctl/ct-set-limits', f'zone={zone},limit=50')      # a small cap, to fill it quickly
    try:
        flood.finish(flood.flood(lab, 'a-1', 'a-2', 2))
        assert zone_count(zone) <= max(before, 50)     # a lower cap evicts nothing: the zone only stops growing
        assert b_connects_during_a_flood(lab, connections=5) == (5, 0)
    finally:
        conntrack.appctl('dpctl/ct-set-limits', f'zone={zone},limit={P.CT_ZONE_LIMIT}')


def test_a_dropped_packet_leaves_no_connection_in_the_sender_s_zone(lab):
    zone = next(e['ident'] for e in lab.api.mappings() if e['instance'] == 'hub-1')
    before = zone_count(zone)
    # 10.1.128.5: the route table sends it to spoke-b, which has nobody there (no-mapping)
    assert journey.ping(lab.node('hub-1'), '10.1.128.5', count=3, interval=0.1)[0] == 0
    assert zone_count(zone) <= before      # (older connections may expire meanwhile)
