"""Builds the Mininet network of a topology: underlay, hypervisor bridges, instances.

Mininet creates the bridges and cables; what it cannot express (tunnel ports, underlay
addresses and flows, MTUs, offloads) is plumbed right after it starts.
"""
import ipaddress
import os
import subprocess

from mininet.net import Mininet
from mininet.node import OVSSwitch, RemoteController

from controllers.pipeline import TUNNEL_PORT, ovs_table_names
from testbed.fabric import cables as cables_mod
from testbed.fabric import isolation, underlay
from testbed.fabric.isolation import SealedLink as Link
from testbed.fabric.links import LinkConditioner
from testbed.fabric.names import (
    DPID_SPINE,
    DPID_TOR,
    DPID_UNDERLAY,
    UNDERLAY_MTU,
    UNDERLAY_PREFIXLEN,
    nic_mac,
)

INSTANCE_INTF = 'eth0'


class LabController(RemoteController):
    """The lab's controller, which is listening before Mininet starts (controller.py waits for
    it).  Mininet's own check telnets to it and can fail decoding the OpenFlow greeting."""

    def checkListening(self):
        pass


class FabricSwitch(OVSSwitch):
    """ul0, ToRs and spines: programmed once with static flows, never by a controller."""

    def start(self, controllers):
        return OVSSwitch.start(self, [])


def sh(cmd):
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f'{cmd[:200]} failed: {r.stderr.strip()}')
    return r.stdout


def vsctl(*args, timeout=30):
    """One ovs-vsctl transaction (arguments as a list: no shell, no 128 KiB limit of one
    shell word)."""
    r = subprocess.run(['ovs-vsctl', f'--timeout={timeout}', *args], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f'ovs-vsctl {" ".join(args)[:200]} failed: {r.stderr.strip()}')
    return r.stdout


def switch_opts(dpid, fail_mode='secure'):
    # userspace datapath (no kernel module here); batch=True builds big bridges reliably
    return dict(cls=OVSSwitch, datapath='user', protocols='OpenFlow13', failMode=fail_mode,
                batch=True, dpid=f'{dpid:016x}')


class Network:
    def __init__(self, topo, names, ofp_port, record, cables=cables_mod.PATCH):
        """cables: how the fabric's bridges are cabled where no link condition asks for a
        veth: 'patch' (OVS patch ports, testbed/fabric/cables.py) or 'veth' (to compare)."""
        if cables not in (cables_mod.PATCH, cables_mod.VETH):
            raise ValueError(f'cables={cables!r}: use {cables_mod.PATCH} or {cables_mod.VETH}')
        self.topo = topo
        self.names = names
        self.ofp_port = ofp_port
        self.record = record          # record(kind, *names): into the run state first
        self.cables = cables
        self.net = None
        self.instance_index = {i.name: n for n, i in enumerate(topo.instances(), start=1)}
        self.location = {i.name: i.host for i in topo.instances()}
        self.links = LinkConditioner(topo, names, record)
        self.patches = []             # cables.Patch, added in _plumb
        self.captures = {}            # host name -> capture interface made on demand
        self.ul0_mac = None

    # ---- build ---------------------------------------------------------------------
    def build(self):
        topo, nm = self.topo, self.names
        self.record('guards', 'iptables')
        isolation.guard(nm.prefix)      # before any interface exists (fabric/isolation.py)
        net = self.net = Mininet(controller=None, build=False, autoSetMacs=False,
                                 autoStaticArp=False, waitConnected=False)
        net.addController('c0', controller=LabController, ip='127.0.0.1',
                          port=self.ofp_port)
        bridges, intfs = [], []
        for h in topo.hosts.values():
            net.addSwitch(nm.hypervisor(h), **switch_opts(h.index))
            bridges.append(nm.hypervisor(h))
        fabric = dict(switch_opts(0), cls=FabricSwitch)
        ul0 = net.addSwitch(nm.underlay(), **dict(fabric, dpid=f'{DPID_UNDERLAY:016x}'))
        racks = underlay.rack_indexes(topo)
        tors = {r: net.addSwitch(nm.tor(i), **dict(fabric, dpid=f'{DPID_TOR + i:016x}'))
                for r, i in racks.items()}
        spines = [net.addSwitch(nm.spine(k), **dict(fabric, dpid=f'{DPID_SPINE + k:016x}'))
                  for k in range(1, topo.spines + 1)]
        bridges += [s.name for s in [ul0, *tors.values(), *spines]]
        for h in topo.hosts.values():
            intfs += self._underlay_cable('nic', ul0, tors[h.rack], h.index, h.index,
                                          nm.nic(h) if self.nic_is_veth() else nm.nic_patch(h),
                                          nm.tor_port(h))
        for rack, r in racks.items():
            for k, spine in enumerate(spines, start=1):
                intfs += self._underlay_cable('uplink', tors[rack], spine, underlay.UPLINK_BASE + k,
                                              r, nm.uplink(r, k), nm.downlink(k, r))
        for inst in topo.instances():
            self._add_instance(inst)
            intfs.append(self.port_name(inst.name))
        self.record('bridges', *bridges)
        self.record('interfaces', *intfs)
        net.build()
        self.record('processes', *[[n.pid, 'mininet:' + n.name] for n in net.hosts])
        net.start()
        # the bridges' LOCAL taps (the cables were sealed as Mininet made them)
        isolation.seal(b for b in bridges if os.path.exists(f'/sys/class/net/{b}'))
        self._plumb()

    def _veth(self, kind):
        return self.cables == cables_mod.VETH or self.links.conditioned(kind)

    def nic_is_veth(self):
        return self._veth('nic')

    def _underlay_cable(self, kind, node1, node2, port1, port2, name1, name2):
        """A veth pair (through Mininet, conditioned or not) or a patch port pair (added in
        _plumb); returns the kernel interfaces it makes."""
        if self._veth(kind):
            self.links.cable(self.net, kind, node1, node2, port1, port2, name1, name2, Link)
            return [name1, name2]
        self.patches.append(cables_mod.Patch(node1.name, port1, name1, node2.name, port2, name2))
        return []

    def port_name(self, instance):
        return self.names.instance_port(self.instance_index[instance])

    def _add_instance(self, inst):
        vpc = self.topo.vpcs[inst.vpc]
        subnet = vpc.subnets[inst.subnet]
        node = self.net.addHost(inst.name, ip=f'{inst.ip}/{subnet.network.prefixlen}',
                                mac=inst.mac)
        # before its interface exists, so that it never sends IPv6 chatter
        node.cmd('sysctl -qw net.ipv6.conf.all.disable_ipv6=1 '
                 'net.ipv6.conf.default.disable_ipv6=1')
        self._cable(node, inst)

    def _cable(self, node, inst):
        bridge = self.net.get(self.names.hypervisor(self.topo.hosts[self.location[inst.name]]))
        return self.net.addLink(node, bridge, cls=Link, intfName1=INSTANCE_INTF,
                                intfName2=self.port_name(inst.name))

    # ---- what Mininet cannot express ------------------------------------------------
    def _plumb(self):
        topo, nm = self.topo, self.names
        ul0 = nm.underlay()
        root = []
        for link in self.net.links:
            for intf in (link.intf1, link.intf2):
                if intf.node.inNamespace:
                    continue
                mtu = topo.mtu if intf.name.startswith(nm.prefix + 'i') else UNDERLAY_MTU
                root += [f'ip link set {intf.name} mtu {mtu}',
                         f'ethtool -K {intf.name} tx off >/dev/null']
        root += [f'ip addr add {h.underlay_ip}/{UNDERLAY_PREFIXLEN} dev {ul0}'
                 for h in topo.hosts.values()]
        root += [f'ip link set {ul0} mtu {UNDERLAY_MTU} up']
        sh(' && '.join(root))
        self.links.start(sh, UNDERLAY_MTU)
        args = []
        for h in topo.hosts.values():
            tun = nm.tunnel(h)
            args += ['--', 'add-port', nm.hypervisor(h), tun, '--', 'set', 'interface', tun,
                     f'type={topo.encapsulation}', f'ofport_request={TUNNEL_PORT}', 'options:remote_ip=flow',
                     'options:key=flow', f'options:local_ip={h.underlay_ip}']
        for patch in self.patches:
            args += cables_mod.patch_args(patch)
        vsctl(*args, *ovs_table_names(nm.hypervisor(h) for h in topo.hosts.values()).split())
        with open(f'/sys/class/net/{ul0}/address') as f:
            ul0_mac = self.ul0_mac = f.read().strip()
        for h in topo.hosts.values():
            sh(f'ovs-appctl tnl/neigh/set {ul0} {h.underlay_ip} {nic_mac(h)}')
        self._add_flows(ul0, underlay.ul0_flows(topo, ul0_mac))
        for rack, r in underlay.rack_indexes(topo).items():
            self._add_flows(nm.tor(r), underlay.tor_flows(topo, rack))
        for k in range(1, topo.spines + 1):
            self._add_flows(nm.spine(k), underlay.spine_flows(topo))
        for inst in topo.instances():
            self._configure_instance(inst)

    @staticmethod
    def _add_flows(bridge, flows):
        proc = subprocess.run(['ovs-ofctl', '-O', 'OpenFlow13', 'add-flows', bridge, '-'], input='\n'.join(flows),
                              capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f'flows for {bridge} rejected: {proc.stderr.strip()}')

    def _configure_instance(self, inst):
        """Inside the instance: its MTU, offloads off (or TCP stalls on netdev), the VPC
        router as default gateway."""
        subnet = self.topo.vpcs[inst.vpc].subnets[inst.subnet]
        node = self.net.get(inst.name)
        out = node.cmd(f'ip link set {INSTANCE_INTF} mtu {self.topo.mtu} && '
                       f'ethtool -K {INSTANCE_INTF} tx off >/dev/null && '
                       f'ip route replace default via {subnet.gateway_ip} dev {INSTANCE_INTF} && echo configured')
        if 'configured' not in out:
            raise RuntimeError(f'could not configure instance {inst.name}: {out.strip()}')

    # ---- captures ----------------------------------------------------------------------
    def capture_point(self, host):
        """The interface on which tcpdump sees physical host `host`'s NIC cable: the veth
        itself, or, for a patch port, a veth that ul0's flows copy the cable to, made on
        first use (recorded first, sealed before it is up, removed with the lab)."""
        h, nm = self.topo.hosts[host], self.names
        if self.nic_is_veth():
            return nm.nic(h)
        if host not in self.captures:
            outer, inner = cables_mod.capture_names(nm, h)
            self.record('interfaces', outer, inner)
            sh(f'ip link add {outer} mtu {UNDERLAY_MTU} type veth peer name {inner} mtu {UNDERLAY_MTU}')
            isolation.seal([outer, inner])
            sh(f'ip link set {inner} up && ip link set {outer} up')
            vsctl(*cables_mod.capture_args(nm.underlay(), inner, h))
            self._add_flows(nm.underlay(), underlay.capture_flows(h, self.ul0_mac, cables_mod.capture_port(h)))
            self.captures[host] = outer
        return self.captures[host]

    def injection_point(self, host):
        """The interface where a frame sent arrives at `host`'s NIC as if from its ToR."""
        if self.nic_is_veth():
            return self.names.tor_port(self.topo.hosts[host])
        return self.capture_point(host)

    # ---- migration: the instance's cable moves to another host's bridge -------------
    def move(self, instance, host):
        inst = self.topo.instance(instance)
        node = self.net.get(instance)
        old_bridge = self.net.get(self.names.hypervisor(self.topo.hosts[self.location[instance]]))
        for link in self.net.linksBetween(node, old_bridge):
            old_bridge.detach(link.intf2)
            self.net.delLink(link)
        self.location[instance] = host
        link = self._cable(node, inst)
        link.intf1.setMAC(inst.mac)
        link.intf1.setIP(inst.ip, ipaddress.ip_network(
            self.topo.vpcs[inst.vpc].subnets[inst.subnet].cidr).prefixlen)
        sh(f'ip link set {link.intf2.name} mtu {self.topo.mtu} && ethtool -K {link.intf2.name} tx off >/dev/null')
        link.intf2.node.attach(link.intf2)
        self._configure_instance(inst)

    # ---- stop ------------------------------------------------------------------------
    def stop(self):
        self.links.stop()
        if self.net is not None:
            stop_mininet(self.net)
            self.net = None
        for outer in self.captures.values():
            subprocess.run(['ip', 'link', 'del', outer], stderr=subprocess.DEVNULL)
        self.captures = {}


def stop_mininet(net):
    shells = [n.shell for n in net.hosts if n.shell]
    # the remote controller's placeholder shell (root namespace) outlives Mininet's SIGHUP:
    # waiting for it cost 5 s per teardown, so it is ended through its handle
    placeholders = [c.shell for c in net.controllers if c.shell]
    net.stop()
    for shell in placeholders:
        shell.kill()
        shell.wait()
    for shell in shells:   # Mininet sends SIGHUP and moves on; see them exit
        try:
            shell.wait(timeout=5)
        except subprocess.TimeoutExpired:
            shell.kill()
            shell.wait()
