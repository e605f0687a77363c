"""The internet gateway and elastic IPs on Blackfoot, with real packets (topologies/gateways.yaml):
web-1 has an elastic IP in a public subnet, web-2 none, app-1 one but no route to igw."""
import shlex
import sys

import pytest
from conftest import topology
from edge_helpers import curl, echo_server

from controllers import pipeline as P
from testbed.lab import Lab
from testbed.observe.capture import Capture

WEB_EIP, APP_EIP = '203.0.113.1', '203.0.113.2'
INTERNET = '198.51.100.10'


@pytest.fixture(scope='module')
def lab():
    with Lab(topology('gateways.yaml')) as lab:
        yield lab


def drops(lab, reason):
    return lab.edge_counters()['handler'].get(f'drop:{reason}', 0)


def test_curl_from_the_internet_reaches_the_instance_by_its_elastic_ip(lab):
    with echo_server(lab.node('web-1')):
        rc, body = curl(lab.node('example-web'), f'http://{WEB_EIP}/')
    assert (rc, body) == (0, INTERNET)      # the instance sees the internet host's address


def test_the_internet_sees_the_elastic_ip(lab):
    with echo_server(lab.node('example-web')):
        rc, body = curl(lab.node('web-1'), f'http://{INTERNET}/')
    assert (rc, body) == (0, WEB_EIP)


@pytest.mark.parametrize('address,reason', [(APP_EIP, 'no-route-to-igw'), ('203.0.113.99', 'no-elastic-ip')])
def test_nothing_from_the_internet_without_an_elastic_ip_or_a_route_to_igw(lab, address, reason):
    before = drops(lab, reason)
    with echo_server(lab.node('app-1')):
        rc, _ = curl(lab.node('example-web'), f'http://{address}/', timeout=2)
    assert rc != 0
    assert drops(lab, reason) > before


def test_an_instance_without_an_elastic_ip_does_not_reach_the_internet(lab):
    before = drops(lab, 'no-elastic-ip')
    assert ' 0 received' in lab.node('web-2').cmd(f'ping -c1 -W1 {INTERNET}')
    assert drops(lab, 'no-elastic-ip') == before + 1


def test_time_exceeded_from_the_edge_and_from_beyond_it_rewritten(lab):
    web = lab.node('web-1')
    assert 'From 100.64.0.2 icmp_seq=1 Time to live exceeded' in web.cmd(f'ping -c1 -W1 -t1 {INTERNET}')
    # the internet router's ICMP quotes the elastic IP: the edge rewrites it back to the private address
    assert 'From 100.64.0.1 icmp_seq=1 Time to live exceeded' in web.cmd(f'ping -c1 -W1 -t2 {INTERNET}')


def test_the_edge_mtu_is_1500_and_the_vpc_keeps_9001(lab):
    web = lab.node('web-1')
    out = web.cmd(f'ping -c2 -W1 -M do -s 2000 {INTERNET}')
    assert 'Frag needed and DF set (mtu = 1500)' in out or 'mtu=1500' in out, out
    assert lab.edge_counters()['handler']['icmp:frag-needed'] >= 1
    assert ' 1 received' in web.cmd(f'ping -c1 -W1 -M do -s 1472 {INTERNET}')
    assert ' 1 received' in web.cmd('ping -c1 -W1 -M do -s 8973 10.0.1.11')     # 9001 inside the VPC


def s3_headers(node, url='http://198.18.0.10/'):
    rc, out = curl(node, url, '-i', '--no-styled-output')
    assert rc == 0, out
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(':') for line in out.splitlines()) if v}


def test_s3_through_the_gateway_endpoint_sees_the_private_address_and_the_endpoint(lab):
    headers = s3_headers(lab.node('app-1'))
    ep = lab.topology.vpcs['blue'].endpoints['s3-ep']
    assert (headers['x-vpclab-source-ip'], headers['x-vpclab-endpoint']) == ('10.0.2.10', ep.id)


def test_s3_through_the_internet_gateway_sees_the_elastic_ip(lab):
    headers = s3_headers(lab.node('web-1'))
    assert (headers['x-vpclab-source-ip'], headers['x-vpclab-endpoint']) == (WEB_EIP, '-')


def test_flow_logs_record_edge_traffic(lab):
    with echo_server(lab.node('web-1')):
        assert curl(lab.node('example-web'), f'http://{WEB_EIP}/')[0] == 0
    eni = lab.topology.instance('web-1').eni
    lab.wait_until(lambda: lab.flow_logs(eni=eni, address=INTERNET, port=80), timeout=10,
                   what='a flow-log record of the internet host')


def test_an_elastic_ip_follows_a_migration(lab):
    lab.migrate('web-1', 'r1-h2')
    with echo_server(lab.node('web-1')):
        rc, body = curl(lab.node('example-web'), f'http://{WEB_EIP}/')
    assert (rc, body) == (0, INTERNET)


@pytest.mark.parametrize('forged,reason', [('10.0.1.11', 'no-route-to-igw'),            # web-2, in web-1's group
                                           ('169.254.169.253', 'unroutable-source')])  # the VPC's DNS server
def test_the_internet_cannot_send_to_an_elastic_ip_from_an_address_inside_the_vpc(lab, forged, reason):
    before = drops(lab, reason)
    send = (f'from scapy.all import IP, ICMP, send; '
            f'send(IP(src="{forged}", dst="{WEB_EIP}") / ICMP(id=0x7a7a), count=3, verbose=0)')
    with Capture('eth0', 'icmp[0] == 8 and icmp[4:2] == 0x7a7a', node=lab.node('web-1')) as victim:
        lab.node('example-web').cmd(f'{sys.executable} -c {shlex.quote(send)}')
        lab.wait_until(lambda: drops(lab, reason) >= before + 3, what=f'3 {reason} drops on the edge')
    assert victim.packets == []


def test_nothing_link_local_or_multicast_leaves_by_the_internet_gateway(lab):
    """Sent to the VPC router's MAC (ping would not: link-local is on-link, multicast has TTL 1)."""
    web = lab.topology.instance('web-1')
    before = drops(lab, 'unroutable-destination')
    for dst in ('169.254.169.123', '224.0.0.251', '255.255.255.255'):
        lab.node(web.name).cmd(f'{sys.executable} -m testbed.observe.craft ip --iface eth0 --count 1 '
                               f'--src-mac {web.mac} --dst-mac {P.ROUTER_MAC} --src-ip {web.ip} --dst-ip {dst}')
    lab.wait_until(lambda: drops(lab, 'unroutable-destination') == before + 3, what='3 unroutable-destination drops')
