"""VPN and Direct Connect on Blackfoot, with real packets (topologies/gateways.yaml): app-1's subnet
routes the site corp by VPN, and its 192.168.100.0/24 by Direct Connect on VLAN 101."""
import subprocess
import time

import pytest
from conftest import topology
from scapy.layers.inet import ICMP, IP
from scapy.layers.ipsec import ESP
from scapy.utils import rdpcap

from testbed.commands import edge_commands
from testbed.lab import Lab

APP = '10.0.2.10'
VPN_HOST, DX_HOST = '192.168.1.10', '192.168.100.10'


@pytest.fixture(scope='module')
def lab():
    with Lab(topology('gateways.yaml')) as lab:
        yield lab


def test_a_site_host_and_an_instance_ping_each_other_over_the_vpn(lab):
    assert ' 2 received' in lab.node('corp-1').cmd(f'ping -c2 -W1 {APP}')
    assert ' 2 received' in lab.node('app-1').cmd(f'ping -c2 -W1 {VPN_HOST}')


def test_the_vpn_link_carries_esp_that_tshark_decrypts_with_the_printed_keys(lab, tmp_path):
    # captured where the edge's ESP arrives: the loops send past the capture taps of their own side
    router, pcap = lab.node('corp-vpn'), tmp_path / 'vpn.pcap'
    dump = router.popen(['tcpdump', '--immediate-mode', '-U', '-s', '2000', '-i', 'wan1', '-w', str(pcap)],
                        stderr=subprocess.PIPE)
    try:
        assert 'listening' in dump.stderr.readline().decode()
        assert ' 2 received' in lab.node('app-1').cmd(f'ping -c2 -W1 {VPN_HOST}')
        time.sleep(0.3)
    finally:
        dump.terminate()
        dump.wait()
    packets = [p for p in rdpcap(str(pcap)) if IP in p]
    assert packets and all(ESP in p for p in packets) and not any(ICMP in p for p in packets)
    assert {(p[IP].src, p[IP].dst) for p in packets} == {('100.64.1.1', '192.168.0.2')}
    args = edge_commands.tshark_options(lab.topology, 'corp-vpn')
    out = subprocess.run(['tshark', '-r', str(pcap), '-Y', 'icmp', *args], capture_output=True, text=True).stdout
    assert len(packets) == 2 and out.count(f'{APP} → {VPN_HOST}') == 2 and 'Echo (ping) request' in out, out


def test_direct_connect_carries_the_vlan_and_reaches_the_instance(lab):
    # the edge's trunk, where it enters the bridge that pops and pushes the tag (root namespace)
    trunk = f'{lab.names.prefix}dxt1'
    dump = subprocess.Popen(['tcpdump', '--immediate-mode', '-l', '-e', '-nn', '-i', trunk, 'icmp or (vlan and icmp)'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert 'listening' in dump.stderr.readline() + dump.stderr.readline()
        assert ' 2 received' in lab.node('corp-2').cmd(f'ping -c2 -W1 {APP}')
        time.sleep(0.3)
    finally:
        dump.terminate()
        out = dump.communicate()[0]
    lines = [line for line in out.splitlines() if line]
    assert len(lines) == 4 and all('vlan 101' in line for line in lines), out
    assert sum(f'{APP} > {DX_HOST}' in line for line in lines) == 2, out
    counters = lab.edge_counters()['handler']
    assert counters['in:dx:corp-dx'] >= 2 and counters['out:dx:corp-dx'] >= 2
