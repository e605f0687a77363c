"""A plain Open vSwitch path, the baseline experiments measure beside the VPC fabric:
Mininet hosts on one userspace (netdev) bridge with NORMAL forwarding, no controller,
no encapsulation, no VPC pipeline.

Everything is recorded in a run state before it is created, like a lab's fabric, so
`vpclab down` removes it after a crash.  Inside a running lab it uses the lab's run
state (`PlainNetwork(lab.state.add, lab.names, ...)`); on its own it claims one
(`standalone()`).
"""
import contextlib
import subprocess

from mininet.net import Mininet
from mininet.node import OVSSwitch

from testbed.errors import LabError
from testbed.fabric import isolation
from testbed.fabric.isolation import SealedLink as Link
from testbed.fabric.network import stop_mininet
from testbed.fabric.runstate import RunState

DPID_PLAIN = 4 << 32
SUBNET = '192.168.250.'        # lives only inside the plain hosts' namespaces


class PlainNetwork:
    def __init__(self, record, names, hosts=2, mtu=1500):
        self.record, self.names, self.count, self.mtu = record, names, hosts, mtu
        self.net = None

    def ip(self, index):
        return SUBNET + str(index)

    def host(self, index):
        return self.net.get(f'{self.names.prefix}p{index}')

    def __enter__(self):
        try:
            self.build()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def build(self):
        prefix = self.names.prefix
        bridge = prefix + 'plain'
        self.record('guards', 'iptables')
        isolation.guard(prefix)
        net = self.net = Mininet(controller=None, build=False, autoSetMacs=True,
                                 autoStaticArp=False, waitConnected=False)
        switch = net.addSwitch(bridge, cls=OVSSwitch, datapath='user', failMode='standalone',
                               batch=True, dpid=f'{DPID_PLAIN:016x}')
        ports = []
        for i in range(1, self.count + 1):
            host = net.addHost(f'{prefix}p{i}', ip=self.ip(i) + '/24')
            port = f'{prefix}pp{i}'
            net.addLink(host, switch, cls=Link, intfName1='eth0', intfName2=port)
            ports.append(port)
        self.record('bridges', bridge)
        self.record('interfaces', *ports)
        net.build()
        self.record('processes', *[[h.pid, 'mininet:' + h.name] for h in net.hosts])
        net.start()
        isolation.seal([bridge])
        # the same offload and MTU settings as the fabric, so only the pipeline differs
        commands = [f'ip link set {p} mtu {self.mtu} && ethtool -K {p} tx off >/dev/null' for p in ports]
        subprocess.run(' && '.join(commands), shell=True, check=True)
        for h in net.hosts:
            h.cmd(f'sysctl -qw net.ipv6.conf.all.disable_ipv6=1; ip link set eth0 mtu {self.mtu} && '
                  'ethtool -K eth0 tx off >/dev/null')

    def stop(self):
        if self.net is not None:
            stop_mininet(self.net)
            self.net = None


@contextlib.contextmanager
def standalone(names, **kwargs):
    """A plain network while no lab runs (a lab and it share nothing but the rule of
    one lab at a time on this machine)."""
    if RunState.existing():
        raise LabError(f'a lab is running or left things behind ({RunState.existing()[0].path}); stop it or run '
                       '`sudo vpclab down`')
    state = RunState.new(names.prefix)
    state.claim()
    try:
        with PlainNetwork(state.add, names, **kwargs) as plain:
            yield plain
    finally:
        state.clean(log=lambda msg: None)
