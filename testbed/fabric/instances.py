"""Instances as namespaces without a process each, and Mininet nodes whose shell starts on
first use.

Mininet spends most of a big lab's start-up in its shells: one bash per host, and per
interface `ip`, `ifconfig`, `sysctl` and `ethtool` commands through them (300 instances:
about 3,300 shell round trips, 13 of 18 s).  Here every instance's namespace and cable are
made in-process over netlink (testbed/fabric/netns.py), and `InstanceHost` is a Mininet
`Host` (cmd, popen, pid, IP(), MAC(), intf(), the Mininet CLI of `vpclab up`) whose shell,
`mininet:<name>`, starts inside the namespace the first time something needs it; `popen`
needs no shell at all.
"""
from mininet.link import Intf
from mininet.node import Host

from testbed.fabric import netns
from testbed.fabric.host_services import takes_dhcp

INSTANCE_INTF = 'eth0'


def _stay(intf, node):
    """Mininet's moveIntfFn: the interface is already in the namespace."""


class InstanceHost(Host):
    def __init__(self, name, netns_name, on_shell, **params):
        self.netns_name, self.on_shell = netns_name, on_shell
        self._pid, self._starting, self._no_shell = None, False, False
        super().__init__(name, inNamespace=True, **params)

    # Node.__init__ calls startShell(): here the shell waits for its first use
    def startShell(self, mnopts=None):
        if self._starting:
            super().startShell(mnopts)

    def _shell(self):
        if self.shell is None:
            # the namespace is joined by nsenter (_popen), so mnexec must not make a new one
            self._starting, self.inNamespace = True, False
            try:
                super().startShell()
            finally:
                self._starting, self.inNamespace = False, True
            self.on_shell(self.shell.pid, f'mininet:{self.name}')
        return self.shell

    @property
    def pid(self):
        if self._pid is None and not (self._starting or self._no_shell):
            self._shell()
        return self._pid

    @pid.setter
    def pid(self, value):
        self._pid = value

    def _popen(self, cmd, **params):
        return super()._popen(['nsenter', f'--net={netns.path(self.netns_name)}', *cmd], **params)

    def cmd(self, *args, **kwargs):
        self._shell()
        return super().cmd(*args, **kwargs)

    def sendCmd(self, *args, **kwargs):
        self._shell()
        return super().sendCmd(*args, **kwargs)

    def popen(self, *args, **kwargs):
        kwargs.setdefault('mncmd', ['mnexec', '-d'])      # nsenter joins the namespace
        self._no_shell = True          # Node.popen reads self.pid for a default it drops here
        try:
            return super().popen(*args, **kwargs)
        finally:
            self._no_shell = False


def cable(topo, names, inst, index):
    """An instance's cable; with DHCP it has no address or route until the instance takes them
    at boot (fabric/host_services.py)."""
    subnet = topo.vpcs[inst.vpc].subnets[inst.subnet]
    dhcp = takes_dhcp(topo, inst)
    return netns.Cable(netns=names.instance_netns(inst.name), port=names.instance_port(index),
                       intf=INSTANCE_INTF, mac=inst.mac, ip=None if dhcp else inst.ip,
                       prefixlen=subnet.network.prefixlen, gateway=None if dhcp else subnet.gateway_ip,
                       mtu=topo.mtu)


def node(net, c, name, on_shell):
    """The Mininet node of an instance whose cable `c` exists, registered in `net`."""
    host = InstanceHost(name, c.netns, on_shell)
    intf = Intf(c.intf, node=host, port=0, moveIntfFn=_stay, up=None)
    intf.mac, intf.ip, intf.prefixLen = c.mac, c.ip, c.prefixlen
    net.hosts.append(host)
    net.nameToNode[name] = host
    return host

