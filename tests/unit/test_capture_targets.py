"""vpclab capture's targets by name and the tcpdump it runs, without a lab."""
import argparse
import os

import pytest

from testbed.commands.capture import capture_arguments, interface, legend, tcpdump_command
from testbed.errors import UsageError
from testbed.fabric.names import Names
from testbed.topology import load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOPO = load(os.path.join(ROOT, 'topologies', 'default.yaml'))


def args(*words):
    p = argparse.ArgumentParser()
    capture_arguments(p)
    return p.parse_args(words)


def test_an_instance_is_its_port_on_the_bridge_of_the_host_it_runs_on_now():
    intf, what = interface(TOPO, Names(), [], 'red-1')
    assert intf == 'vl_i4' and 'vl_r1-h1' in what
    assert 'r2-h2' in interface(TOPO, Names(), [], 'red-1', where={'red-1': 'r2-h2'})[1]


def test_a_host_is_its_nic_and_a_recorded_cable_is_itself():
    assert interface(TOPO, Names(), [], 'r3-h1')[0] == 'vl_nic5'
    assert interface(TOPO, Names(), ['vl_tor1s2'], 'vl_tor1s2')[0] == 'vl_tor1s2'
    with pytest.raises(UsageError, match="'eth0' is no instance, physical host or interface"):
        interface(TOPO, Names(), ['vl_tor1s2'], 'eth0')


def test_tcpdump_writes_pcap_or_prints():
    assert tcpdump_command('vl_nic1', args('-w', '-', '-c', '2', 'r1-h1', 'udp', 'port', '6081')) == \
        ['tcpdump', '-i', 'vl_nic1', '-nn', '-s', '0', '--immediate-mode', '-c', '2', '-U', '-w', '-', 'udp', 'port',
         '6081']
    assert tcpdump_command('vl_i1', args('web-1'))[-2:] == ['-l', '-e']
    with pytest.raises(UsageError):
        tcpdump_command('vl_i1', args('-c', '0', 'web-1'))


def test_legend_names_every_vpc_by_vni():
    assert legend(TOPO)[0].startswith('VNI 100 -> VPC blue (vpc-') and len(legend(TOPO)) == 3
