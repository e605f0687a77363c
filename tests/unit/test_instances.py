"""Instances without a process each (testbed/fabric/instances.py, netns.py): the cable each
instance gets, the Mininet node whose shell waits for its first use, namespace names, and
which recorded namespaces `vpclab down` would remove."""
import subprocess

import pytest
from mininet.net import Mininet

from testbed.bench import topogen
from testbed.fabric import instances, netns
from testbed.fabric.names import Names
from testbed.fabric.runstate import RunState


@pytest.fixture(scope='module')
def topo():
    return topogen.generate('t', 1, 2, {'blue': ['r1-h1', 'r1-h2']}, mtu=1500)


def test_the_cable_of_an_instance_follows_its_subnet(topo):
    inst = topo.instance('blue-2')
    c = instances.cable(topo, Names('vl_'), inst, 2)
    subnet = topo.vpcs['blue'].subnets[inst.subnet]
    assert c == netns.Cable(netns='vl_blue-2', port='vl_i2', intf='eth0', mac=inst.mac, ip=inst.ip,
                            prefixlen=subnet.network.prefixlen, gateway=subnet.gateway_ip, mtu=1500)


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, cmd, **params):
        self.calls.append(cmd)
        return subprocess.Popen(['true'])


def test_a_node_has_no_shell_until_used_and_popen_joins_the_namespace(topo, monkeypatch):
    net = Mininet(build=False)
    started = []
    c = instances.cable(topo, Names('vl_'), topo.instance('blue-1'), 1)
    host = instances.node(net, c, 'blue-1', lambda pid, what: started.append(what))
    assert net.get('blue-1') is host and host in net.hosts
    assert host.shell is None and started == []
    assert (host.IP(), host.MAC(), host.intf().name) == (c.ip, c.mac, 'eth0')
    popen = Recorder()
    monkeypatch.setattr('mininet.node.Popen', popen)
    host.popen(['iperf3', '-s']).wait()
    assert popen.calls == [['nsenter', '--net=/run/netns/vl_blue-1', 'mnexec', '-d', 'iperf3', '-s']]
    assert host.shell is None and started == []          # popen needed no shell
    host.terminate()                                     # nothing to stop


@pytest.mark.parametrize('name', ['', 'a/b', '../x', 'x' * 65, 'bad name'])
def test_namespace_names_are_plain_file_names(name):
    with pytest.raises(ValueError):
        netns.path(name)


def test_down_removes_only_recorded_namespaces_with_the_labs_prefix(tmp_path):
    s = RunState(str(tmp_path / 'zq.json'), dict(prefix='zq_', netns=[
        'zq_web-1', 'other_web', 'zq_../etc', 'zq_' + 'x' * 70, 7, 'zq_db-2']))
    assert s.names('netns', netns.NETNS_NAME) == ['zq_web-1', 'zq_db-2']
