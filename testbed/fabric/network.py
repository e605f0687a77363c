"""Builds the Mininet network of a topology: underlay, hypervisor bridges, instances.

Mininet creates the bridges and cables; what it cannot express (tunnel ports, underlay
addresses and flows, MTUs, offloads) is plumbed right after it starts.
"""
import os
import subprocess

from mininet.net import Mininet
from mininet.node import OVSSwitch, RemoteController

from controllers.pipeline import TUNNEL_PORT, ovs_table_names
from testbed.fabric import cables as cables_mod
from testbed.fabric import instances, isolation, netns, underlay
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
from testbed.fabric.shell import add_flows, sh, vsctl


class LabController(RemoteController):
    """The lab's controller, which is listening before Mininet starts (controller.py waits for
    it).  Mininet's own check telnets to it and can fail decoding the OpenFlow greeting."""

    def checkListening(self):
        pass


class FabricSwitch(OVSSwitch):
    """ul0, ToRs and spines: programmed once with static flows, never by a controller."""

    def start(self, controllers):
        return OVSSwitch.start(self, [])


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
        self.cabling = cables
        self.net = None
        self.instance_index = {i.name: n for n, i in enumerate(topo.instances(), start=1)}
        self.location = {i.name: i.host for i in topo.instances()}
        self.links = LinkConditioner(topo, names, record)
        self.patches = []             # cables.Patch, added in _plumb
        self.cables = []              # netns.Cable of every instance (instances.py)

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
        self.cables = [instances.cable(topo, nm, inst, self.instance_index[inst.name])
                       for inst in topo.instances()]
        self.record('netns', *[c.netns for c in self.cables])
        self.record('bridges', *bridges)
        if not self.nic_is_veth():      # capture veths, made on demand (nic_capture.py)
            intfs += [n for h in topo.hosts.values() for n in cables_mod.capture_names(nm, h)]
        self.record('interfaces', *intfs, *[c.port for c in self.cables])
        net.build()
        self.record('processes', *[[n.pid, 'mininet:' + n.name] for n in net.hosts])
        net.start()
        # the bridges' LOCAL taps (the cables were sealed as Mininet made them)
        isolation.seal(b for b in bridges if os.path.exists(f'/sys/class/net/{b}'))
        netns.make(self.cables, isolation.seal)
        for c, inst in zip(self.cables, topo.instances()):
            instances.node(net, c, inst.name, self._shell_started)
        self._plumb()

    def _shell_started(self, pid, must_contain):
        self.record('processes', [pid, must_contain])

    def _veth(self, kind):
        return self.cabling == cables_mod.VETH or self.links.conditioned(kind)

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
        for inst, c in zip(topo.instances(), self.cables):
            args += ['--', 'add-port', nm.hypervisor(topo.hosts[inst.host]), c.port]
        vsctl(*args, *ovs_table_names(nm.hypervisor(h) for h in topo.hosts.values()))
        with open(f'/sys/class/net/{ul0}/address') as f:
            ul0_mac = f.read().strip()
        for h in topo.hosts.values():
            sh(f'ovs-appctl tnl/neigh/set {ul0} {h.underlay_ip} {nic_mac(h)}')
        add_flows(ul0, underlay.ul0_flows(topo, ul0_mac))
        for rack, r in underlay.rack_indexes(topo).items():
            add_flows(nm.tor(r), underlay.tor_flows(topo, rack))
        for k in range(1, topo.spines + 1):
            add_flows(nm.spine(k), underlay.spine_flows(topo))

    # ---- migration: the instance's cable moves to another host's bridge -------------
    def move(self, instance, host):
        """The cable keeps its name, so the new host's agent recognises the instance; the
        instance keeps its interface, addresses and connections, as in a live migration."""
        old = self.names.hypervisor(self.topo.hosts[self.location[instance]])
        new = self.names.hypervisor(self.topo.hosts[host])
        port = self.port_name(instance)
        vsctl('--', 'del-port', old, port, '--', 'add-port', new, port)
        self.location[instance] = host

    # ---- stop ------------------------------------------------------------------------
    def stop(self):
        self.links.stop()
        if self.net is not None:
            stop_mininet(self.net)      # also the instances' shells that were started
            self.net = None
        netns.remove(c.netns for c in self.cables)
        # a namespace's interfaces go with it, asynchronously (the cable's root end too), unless
        # a process started in it still runs: then the cable is deleted here
        left = netns.wait_gone([c.port for c in self.cables], timeout=5)
        if left:
            netns.delete_links(left)
        self.cables = []


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
