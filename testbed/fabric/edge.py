"""Builds the edge and the outside world (edge_plan.py) into a running lab, and runs their processes.

Called once the hypervisors' network runs: nodes are Mininet hosts (so `lab.node(name)` finds
them and Mininet ends their shells), cables are veths made straight into the namespaces, the few
that end in the root namespace (the edge's underlay cable on its spine, the Direct Connect bridge's
ports) are recorded in the run state before they exist and sealed (isolation.py) before they are
up.  Processes (the edge's packet loop, S3, the sites' VPN loops) are recorded by PID as soon as
they are started and stopped by PID first when the lab stops.  A thread follows the mapping
service and hands every change to the edge process, which looks each packet up in it.
"""
import json
import os
import select
import subprocess
import sys
import threading

from testbed.appliances import processes
from testbed.fabric import edge_plan, isolation, underlay
from testbed.fabric.controller import REPO
from testbed.fabric.names import UNDERLAY_MTU
from testbed.fabric.shell import add_flows, sh

FOLLOW_S = 0.1          # how often the mapping service is asked whether anything changed


def start(lab):
    """The lab's edge world, running; None when no VPC leaves through the edge."""
    if not edge_plan.needed(lab.topology):
        return None
    world = EdgeWorld(lab)
    try:
        world.build()
    except BaseException:
        world.stop()
        raise
    return world


class EdgeWorld:
    def __init__(self, lab):
        self.lab, self.topo, self.names = lab, lab.topology, lab.names
        self.plan = edge_plan.plan(self.topo, self.names, lab.run_dir)
        self.procs = {}            # (node, what) -> Popen
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.follower = None
        self.last_counters = {}

    # ---- build ------------------------------------------------------------------------
    def build(self):
        net, plan, record = self.lab.network.net, self.plan, self.lab.state.add
        root = [lk.if2 for lk in plan.links if lk.node2 is None] + [self.underlay_cable(k) for k in self.ks]
        record('bridges', *plan.dx_bridges)
        record('interfaces', *root)
        nodes = {}
        for name in plan.nodes:
            nodes[name] = net.addHost(name, ip=None)
            record('processes', [nodes[name].pid, f'mininet:{name}'])
            nodes[name].cmd('sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 '
                            'net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0')
        self.nodes = nodes
        for k, name in zip(self.ks, plan.edges):
            self._underlay(nodes[name], k)
        for link in plan.links:
            self._cable(link)
        for bridge, spec in plan.dx_bridges.items():
            self._dx_bridge(bridge, spec)
        for name, commands in plan.setup.items():
            out = nodes[name].cmd(' && '.join(commands) + ' && echo configured')
            if 'configured' not in out:
                raise RuntimeError(f'could not configure {name}: {out.strip()[-300:]}')
        for name, config in plan.edge_configs.items():
            with open(os.path.join(self.lab.run_dir, f'{name[len(self.names.prefix):]}.json'), 'w') as f:
                json.dump(config, f)
        for node, argv, env, what in plan.processes:
            self._start(node, argv, env, what)
        self.push_mapping()
        self.follower = threading.Thread(target=self._follow, name='edge-mapping', daemon=True)
        self.follower.start()

    @property
    def ks(self):
        return range(1, len(self.plan.edges) + 1)

    def underlay_cable(self, k):
        return f'{self.names.prefix}eu{k}'

    def _underlay(self, edge, k):
        """Edge host k's NIC cable to a spine, and the static flows that reach it."""
        attach_to_spine(self.topo, self.names, edge, self.underlay_cable(k), edge_plan.edge_mac(k),
                        edge_plan.edge_ip(k), (k - 1) % self.topo.spines + 1, edge_plan.EDGE_SPINE_PORT + k)

    def _cable(self, link):
        a = self.nodes[link.node1]
        if link.node2 is None:          # into the root namespace: a bridge port
            sh(f'ip link add name {link.if2} type veth peer name {link.if1} address {link.mac1} netns {a.pid}')
            isolation.seal([link.if2])
            sh(f'ip link set {link.if2} mtu {link.mtu} && ethtool -K {link.if2} tx off >/dev/null && '
               f'ip link set {link.if2} up')
        else:
            b = self.nodes[link.node2]
            sh(f'ip link add name {link.if1} address {link.mac1} netns {a.pid} type veth '
               f'peer name {link.if2} address {link.mac2} netns {b.pid}')
            b.cmd(_up(link.if2, link.mtu))
        a.cmd(_up(link.if1, link.mtu))

    def _dx_bridge(self, bridge, spec):
        ports = ' '.join(f'-- add-port {bridge} {p} -- set interface {p} ofport_request={n}'
                         for n, p in enumerate(spec['ports'], start=1))
        sh(f'ovs-vsctl --timeout=30 add-br {bridge} -- set bridge {bridge} datapath_type=netdev '
           f'fail_mode=secure protocols=OpenFlow13 {ports}')
        if os.path.exists(f'/sys/class/net/{bridge}'):
            isolation.seal([bridge])
        add_flows(bridge, spec['flows'])

    def _start(self, node, argv, env, what):
        env = dict(os.environ, **{k: json.dumps(v) for k, v in env.items()}) if env else None
        proc = self.nodes[node].popen([sys.executable, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
        self.procs[(node, what)] = proc
        self.lab.state.add('processes', [proc.pid, what])
        try:
            processes.wait_ready(proc)
        except RuntimeError as exc:
            raise RuntimeError(f'{exc}: {proc.stderr.read()[-500:] if proc.poll() is not None else ""}') from None

    # ---- the mapping, followed ---------------------------------------------------------
    @property
    def edge_procs(self):
        return {name: self.procs[(name, 'testbed.appliances.edge_process')] for name in self.plan.edges}

    @property
    def edge_proc(self):
        return self.edge_procs[self.plan.edge]

    def push_mapping(self):
        vnis = set(self.plan.edge_config['vnis'])
        rows = [[e['vni'], e['ip'], e['host_ip'], e['mac']] for e in self.lab.api.mappings() if e['vni'] in vnis]
        self._send(dict(mapping=rows))

    def hyperplane_failed(self, names):
        """Tells every edge process which Hyperplane nodes are down (testbed/appliances/blackfoot_hyperplane.py)."""
        self._send(dict(hyperplane_failed=list(names)))

    def _send(self, message):
        with self.lock:
            for proc in self.edge_procs.values():
                proc.stdin.write(json.dumps(message) + '\n')
                proc.stdin.flush()

    def _follow(self):
        seen = None
        while not self.stopping.wait(FOLLOW_S):
            try:
                changes = self.lab.api.changes()
                now = (len(changes['done']), changes['pending'])
                if now != seen:
                    self.push_mapping()
                    seen = now
            except Exception:       # noqa: BLE001  the lab is stopping, or the API hiccuped: try again
                continue

    def counters(self, timeout=5.0):
        """The edge's counters now: what its loops and decisions counted, summed over the edge
        nodes, and each node's own under 'nodes' (node name without the lab prefix -> counters)."""
        nodes = {}
        with self.lock:
            for name, proc in self.edge_procs.items():
                proc.stdin.write('{"counters": true}\n')
                proc.stdin.flush()
                if not select.select([proc.stdout], [], [], timeout)[0]:
                    raise RuntimeError(f'the edge process on {name} did not answer')
                nodes[name[len(self.names.prefix):]] = json.loads(proc.stdout.readline())
        return dict(merge(nodes.values()), nodes=nodes)

    # ---- stop ----------------------------------------------------------------------------
    def stop(self):
        self.stopping.set()
        if self.follower is not None:
            self.follower.join(timeout=5)
        for (node, what), proc in reversed(list(self.procs.items())):
            try:
                self.last_counters[(node, what)] = processes.stop(proc)
            except Exception:       # noqa: BLE001  stop the others whatever one did
                pass
        self.procs = {}


def merge(counters):
    """The sum of counter dicts, nested dicts (the handler's) summed too."""
    out = {}
    for c in counters:
        for key, value in c.items():
            if isinstance(value, dict):
                out[key] = merge([out.get(key, {}), value])
            else:
                out[key] = out.get(key, 0) + value
    return out


def attach_to_spine(topo, nm, node, cable, mac, ip, spine, port):
    """A dedicated host on the underlay (an edge or Hyperplane node): its cable `cable` (in the root
    namespace; `ul` in the node's) on port `port` of spine `spine`, and the static flows that reach
    its MAC from every ToR and spine and its address from the hypervisors' tunnels."""
    sh(f'ip link add name {cable} type veth peer name ul address {mac} netns {node.pid}')
    isolation.seal([cable])
    sh(f'ip link set {cable} mtu {UNDERLAY_MTU} && ethtool -K {cable} tx off >/dev/null && '
       f'ip link set {cable} up && ovs-vsctl --timeout=30 add-port {nm.spine(spine)} {cable} '
       f'-- set interface {cable} ofport_request={port}')
    node.cmd(f'ip link set ul mtu {UNDERLAY_MTU} && ethtool -K ul tx off >/dev/null && ip link set ul up')
    racks = underlay.rack_indexes(topo)
    flows = {nm.spine(s): [f'priority=100,dl_dst={mac},actions=output:{port if s == spine else min(racks.values())}']
             for s in range(1, topo.spines + 1)}       # another spine: down to a ToR, which goes up to ours
    for r in racks.values():
        flows[nm.tor(r)] = [f'priority=100,dl_dst={mac},actions=output:{underlay.UPLINK_BASE + spine}']
    ul0 = nm.underlay()
    flows[ul0] = [underlay.arp_responder(ip, mac)]
    sh(f'ovs-appctl tnl/neigh/set {ul0} {ip} {mac}')
    for bridge, fl in flows.items():
        add_flows(bridge, fl)


def _up(ifname, mtu):
    return f'ip link set {ifname} mtu {mtu} && ethtool -K {ifname} tx off >/dev/null; ip link set {ifname} up'
