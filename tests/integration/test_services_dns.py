"""DHCP and the Amazon DNS server in a real lab (topologies/services.yaml, docs/services.md): blue's
instances take their addresses with busybox udhcpc at boot, answered by their own host's router;
dig in the instances asks the VPC's base + 2 and 169.254.169.253. None of it crosses the underlay,
none of it is in the flow logs, security groups do not filter it, and each ENI may send 1024 packets a
second to it, no more."""
import json
import subprocess
import sys

import pytest
from conftest import ROOT, topology
from services_probe import dig, flood, flooded, nic_captures, service_packets

from controllers import pipeline as P
from testbed.lab import Lab
from testbed.observe import journey

ZERO_PROBE = """
import sys
from scapy.all import IP, TCP, UDP, ICMP, Ether, sendp
me = sys.argv[1]
frames = [Ether(src=me, dst='ff:ff:ff:ff:ff:ff') / IP(src='0.0.0.0', dst='255.255.255.255') / UDP(sport=68, dport=9999),
          Ether(src=me, dst='ff:ff:ff:ff:ff:ff') / IP(src='0.0.0.0', dst='255.255.255.255') / UDP(sport=5000, dport=67),
          Ether(src=me, dst='ff:ff:ff:ff:ff:ff') / IP(src='0.0.0.0', dst='255.255.255.255') / TCP(sport=68, dport=67),
          Ether(src=me, dst='0e:00:00:00:00:01') / IP(src='0.0.0.0', dst='10.0.1.11') / ICMP(),
          Ether(src='0e:66:66:66:66:66', dst='ff:ff:ff:ff:ff:ff') / IP(src='0.0.0.0', dst='255.255.255.255') /
          UDP(sport=68, dport=67)]
sendp(frames, iface='eth0', verbose=False)
"""


@pytest.fixture(scope='module')
def lab():
    with Lab(topology('services.yaml')) as lab:
        yield lab


def test_dhcp_instances_take_their_address_router_dns_domain_and_mtu_at_boot(lab):
    for name in ('web-1', 'web-2', 'app-1'):
        inst = lab.topology.instance(name)
        subnet = lab.topology.vpcs['blue'].subnets[inst.subnet]
        lease = lab.services.lease(name)
        assert (lease['ip'], lease['router'], lease['dns'], lease['domain'], lease['mtu']) == \
            (inst.ip, subnet.gateway_ip, '10.0.0.2', 'ec2.internal', '9001'), lease
        shown = lab.node(name).cmd('ip -4 addr show dev eth0; ip route show default')
        assert f'inet {inst.ip}/{subnet.network.prefixlen}' in shown and 'mtu 9001' in shown, shown
        assert f'default via {subnet.gateway_ip}' in shown, shown
    acks = sum(lab.api.cache(h)['counters'].get('dhcp_acks', 0) for h in lab.topology.hosts)
    assert acks >= 3
    assert journey.ping(lab.node('web-1'), '10.0.1.11', count=2)[0] == 2     # the addresses work


def test_only_the_dhcp_exchange_passes_from_0_0_0_0(lab, tmp_path):
    web1 = lab.topology.instance('web-1')
    offers = lab.api.cache(web1.host)['counters'].get('dhcp_offers', 0)
    before = journey.drops(lab, web1.host, 'spoofed-source')
    probe = tmp_path / 'zero.py'
    probe.write_text(ZERO_PROBE)
    lab.node('web-1').cmd(f'{sys.executable} {probe} {web1.mac}')
    lab.wait_until(lambda: journey.drops(lab, web1.host, 'spoofed-source') >= before + 5,
                   what='5 spoofed-source drops of the packets from 0.0.0.0 that are not DHCP')
    # a real client's exchange from 0.0.0.0 is answered, as at boot
    lab.services.dhcp(['web-1'])
    assert lab.api.cache(web1.host)['counters']['dhcp_offers'] == offers + 1
    assert lab.services.lease('web-1')['ip'] == web1.ip


def test_instance_names_and_reverse_records_at_base_plus_2_and_the_link_local_address(lab):
    web1 = lab.node('web-1')
    for server in ('10.0.0.2', '169.254.169.253'):
        assert dig(web1, server, 'ip-10-0-1-11.ec2.internal') == ('NOERROR', ['10.0.1.11'])
        assert dig(web1, server, '-x', '10.0.1.11') == ('NOERROR', ['ip-10-0-1-11.ec2.internal.'])
        assert dig(web1, server, '+tcp', 'ip-10-0-0-10.ec2.internal') == ('NOERROR', ['10.0.0.10'])
    assert dig(web1, '10.0.0.2', 'nosuch.example.org')[0] == 'NXDOMAIN'


def test_private_zones_answer_only_in_their_vpcs_and_internet_names_everywhere(lab):
    web1, red1 = lab.node('web-1'), lab.node('red-1')
    assert dig(web1, '10.0.0.2', 'db.corp.internal') == ('NOERROR', ['10.0.1.11'])
    assert dig(web1, '169.254.169.253', 'api.corp.internal') == ('NOERROR', ['10.0.2.50'])
    assert dig(red1, '10.0.0.2', 'db.corp.internal')[0] == 'NXDOMAIN'      # red is not associated
    for node in (web1, red1):
        assert dig(node, '10.0.0.2', 'www.example.com') == ('NOERROR', ['198.51.100.10'])


def test_overlapping_vpcs_get_their_own_answers(lab):
    """web-1 and red-1: same host, same address, same server address, each its own VPC's names."""
    web1, red1 = lab.node('web-1'), lab.node('red-1')
    assert dig(web1, '10.0.0.2', 'ip-10-0-1-11.ec2.internal') == ('NOERROR', ['10.0.1.11'])
    assert dig(red1, '10.0.0.2', 'ip-10-0-1-11.ec2.internal')[0] == 'NXDOMAIN'   # red has no 10.0.1.11
    assert dig(red1, '10.0.0.2', 'ip-10-0-1-10.ec2.internal') == ('NOERROR', ['10.0.1.10'])


def test_security_groups_do_not_filter_dns(lab):
    """app-1's group allows nothing: it reaches no instance, yet resolves (10.0.0.2 is on-link in
    its subnet: the router answers its ARP)."""
    app1 = lab.node('app-1')
    assert journey.ping(app1, '10.0.1.11', count=1, wait=1)[0] == 0
    assert dig(app1, '10.0.0.2', 'ip-10-0-1-10.ec2.internal') == ('NOERROR', ['10.0.1.10'])
    assert dig(app1, '169.254.169.253', 'www.example.com') == ('NOERROR', ['198.51.100.10'])


def test_dns_never_crosses_the_underlay_and_the_service_addresses_never_leave(lab):
    web1, web2 = lab.node('web-1'), lab.node('web-2')
    host = lab.topology.instance('web-1').host
    before = journey.drops(lab, host, 'service-address')
    with nic_captures(lab) as caps:
        for node in (web1, web2):
            assert dig(node, '10.0.0.2', 'ip-10-0-1-10.ec2.internal')[1] == ['10.0.1.10']
        web1.cmd('ping -c 2 -i 0.2 -W 1 100.126.0.2; ping -c 1 -W 1 100.126.0.1')   # web-2's and its own
    assert [service_packets(c.packets) for c in caps] == [[]] * len(caps)
    lab.wait_until(lambda: journey.drops(lab, host, 'service-address') >= before + 3,
                   what='3 service-address drops')


def test_dns_is_counted_and_not_flow_logged(lab):
    web1 = lab.node('web-1')
    queries = lab.services.answers()['dns']['queries']
    assert dig(web1, '10.0.0.2', 'ip-10-0-1-11.ec2.internal')[0] == 'NOERROR'
    assert journey.ping(web1, '10.0.1.11', count=1)[0] == 1                   # this one is logged
    assert lab.services.answers()['dns']['queries'] >= queries + 2           # dig asks twice
    lab.wait_until(lambda: _logged(lab, '10.0.1.11'), timeout=15, what='the ping in the flow logs')
    logged = lab.flow_logs()
    assert logged and not [r for r in logged if r.get('dstport') in ('53', 53) or r.get('srcport') in ('53', 53)
                           or r.get('dstaddr') in ('10.0.0.2', '169.254.169.253')], logged


def test_vpclab_counters_shows_the_services(lab):
    lab.wait_until(lambda: '"Services"' in _counters_json(), timeout=5, what='the services in vpclab counters')
    out = subprocess.run([sys.executable, '-m', 'testbed.commands.cli', 'counters'], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and 'VPC services' in out.stdout and 'DNS-QUERIES' in out.stdout, out
    assert 'DHCP-ACKS' in out.stdout


def test_each_eni_may_ask_1024_packets_a_second_and_its_own_flood_throttles_nobody_else(lab):
    """web-2 floods the DNS server for 2 s at 8 times its limit; during it app-1, on the same host, asks
    100 questions at once (within its burst).  web-2 gets fewer than half its answers and the rest
    is dropped and counted as services-throttled (some of a flood may be lost before the switch when
    the machine is busy, hence the margin); app-1's own meter lets every question through.  Paced, not
    as fast as it can: at ~400 000 a second the kernel, not the meter, drops most of it on a busy machine."""
    host = lab.topology.instance('web-2').host
    assert lab.topology.instance('app-1').host == host
    before = journey.drops(lab, host, 'services-throttled')
    flooding = flood(lab.node('web-2'), '10.0.0.2', seconds=2, rate=8 * P.ENI_SERVICES_PPS)
    calm = flooded(flood(lab.node('app-1'), '10.0.0.2', count=100))
    loud = flooded(flooding)
    assert calm['answered'] == calm['sent'] == 100, calm
    assert 0 < loud['answered'] < loud['sent'] / 2, loud
    rest = loud['sent'] - loud['answered']
    lab.wait_until(lambda: journey.drops(lab, host, 'services-throttled') - before >= rest / 2,
                   what=f'half of the {rest} unanswered queries counted as services-throttled')
    assert journey.drops(lab, host, 'services-throttled') - before <= rest
    assert json.loads(_counters_json())['Drops']['services-throttled'] >= rest / 2      # vpclab counters


def _logged(lab, address):
    try:
        return lab.flow_logs(address=address)
    except OSError:            # no record written yet
        return []


def _counters_json():
    return subprocess.run([sys.executable, '-m', 'testbed.commands.cli', 'counters', '-o', 'json'], cwd=ROOT,
                          capture_output=True, text=True, timeout=60).stdout
