"""Delay and loss on underlay cables: the topology key, the choice between netem and the
userspace delay line (this kernel has no netem, so the netem side is tested by its
detection and the commands it would run), and the delay line's queue."""
import random

import pytest

from testbed.fabric import links
from testbed.fabric.delayline import DelayQueue
from testbed.fabric.names import Names
from testbed.topology import TopologyError, loads
from testbed.topology.model import LinkCondition

FABRIC = '''fabric:
  links: %s
  azs: {use1-az1: {racks: {r1: {hosts: 2}, r2: {hosts: 1}}}}
'''


def topo(links_yaml='{uplink: {delay_ms: 5, loss_percent: 0.5}}'):
    return loads(FABRIC % links_yaml, 'lab.yaml')


def test_links_are_read_per_kind_of_cable():
    t = topo('{nic: {delay_ms: 0.5}, uplink: {delay_ms: 5, loss_percent: 2}}')
    assert dict(t.links) == {'nic': LinkCondition(0.5, 0.0), 'uplink': LinkCondition(5.0, 2.0)}
    assert dict(loads('fabric: {azs: {a: {racks: {r1: {hosts: 1}}}}}').links) == {}


@pytest.mark.parametrize('text, message', [
    ('{spine: {delay_ms: 1}}', "lab.yaml:2: fabric.links: unknown key 'spine'; allowed keys are: nic, uplink"),
    ('{nic: {delay: 1}}', "fabric.links.nic: unknown key 'delay'; did you mean 'delay_ms'?"),
    ('{nic: {loss_percent: 1}}', "fabric.links.nic: 'delay_ms' is missing; add it, for example delay_ms: 1"),
    ('{nic: {delay_ms: "5"}}', 'fabric.links.nic.delay_ms: expected a number, got \'5\''),
    ('{nic: {delay_ms: 1, loss_percent: 101}}', 'loss_percent: 101 is out of range; use a number from 0 to 100'),
    ('[nic]', 'fabric.links: expected a mapping, got a list'),
])
def test_bad_links_are_one_line_naming_file_line_and_key(text, message):
    with pytest.raises(TopologyError) as err:
        topo(text)
    assert message in str(err.value) and '\n' not in str(err.value)


def test_netem_is_detected_in_a_throwaway_namespace():
    calls = []

    class Done:
        def __init__(self, rc):
            self.returncode = rc

    def fake(rc):
        return lambda cmd, **kw: calls.append(cmd) or Done(rc)
    assert links.netem_available(fake(0)) is True
    assert links.netem_available(fake(2)) is False     # "Specified qdisc kind is unknown"
    assert calls[0][:2] == ['unshare', '--net'] and 'netem' in calls[0]

    def missing(cmd, **kw):
        raise FileNotFoundError(cmd[0])
    assert links.netem_available(missing) is False


def test_the_method_follows_the_kernel_and_is_none_without_conditions():
    assert links.choose_method(topo(), probe=lambda: True) == links.NETEM
    assert links.choose_method(topo(), probe=lambda: False) == links.DELAYLINE
    assert links.choose_method(topo('{uplink: {delay_ms: 0}}'), probe=lambda: True) == links.NONE


class FakeNet:
    def __init__(self):
        self.links, self.hosts = [], []

    def addLink(self, a, b, **kw):
        self.links.append((a, b, kw['intfName1'], kw['intfName2']))

    def addHost(self, name, **kw):
        host = FakeHost(name)
        self.hosts.append(host)
        return host


class FakeHost:
    def __init__(self, name):
        self.name, self.commands = name, []

    def cmd(self, text):
        self.commands.append(text)


def test_with_netem_both_ends_of_the_cable_get_the_qdisc():
    conditioner = links.LinkConditioner(topo(), Names(), record=None, method=links.NETEM)
    net = FakeNet()
    conditioner.cable(net, 'uplink', 'tor1', 'spine1', 1001, 1, 'vl_tor1s1', 'vl_s1tor1', None)
    conditioner.cable(net, 'nic', 'ul0', 'tor1', 1, 1, 'vl_nic1', 'vl_tp1', None)   # not asked for
    ran = []
    conditioner.start(ran.append, 9216)
    assert ran == ['tc qdisc replace dev vl_tor1s1 root netem delay 5ms loss 0.5%',
                   'tc qdisc replace dev vl_s1tor1 root netem delay 5ms loss 0.5%']
    assert len(net.links) == 2 and not net.hosts
    assert conditioner.describe()['method'] == 'netem'


def test_without_netem_the_cable_is_cut_and_a_delay_node_sits_in_the_middle():
    conditioner = links.LinkConditioner(topo(), Names(), record=None, method=links.DELAYLINE)
    net = FakeNet()
    conditioner.cable(net, 'uplink', 'tor1', 'spine1', 1001, 1, 'vl_tor1s1', 'vl_s1tor1', None)
    (middle,) = net.hosts
    assert middle.name == 'vl_dtor1s1'
    # the root-namespace names stay those of the cable, so cleanup and captures still work
    assert [(l[2], l[3]) for l in net.links] == [('vl_tor1s1', 'side0'), ('side1', 'vl_s1tor1')]
    cmd = links.delayline_command(LinkCondition(5.0, 0.5))
    assert cmd[1:] == ['-m', 'testbed.fabric.delayline', 'side0', 'side1', '--delay-ms', '5',
                       '--loss-percent', '0.5']


def test_the_delay_queue_holds_each_frame_for_the_delay_in_order():
    q = DelayQueue(0.005, 0.0, random.Random(1))
    q.put(b'a', now=10.0)
    q.put(b'b', now=10.001)
    assert list(q.due(10.004)) == [] and q.next_due() == pytest.approx(10.005)
    assert list(q.due(10.0055)) == [b'a']
    assert list(q.due(10.01)) == [b'b'] and q.next_due() is None
    assert (q.forwarded, q.dropped) == (2, 0)


def test_the_delay_queue_drops_about_the_loss_asked_for():
    q = DelayQueue(0.0, 0.2, random.Random(7))
    for _ in range(5000):
        q.put(b'x', now=0.0)
    assert 800 < q.dropped < 1200
    assert len(list(q.due(0.0))) == 5000 - q.dropped
