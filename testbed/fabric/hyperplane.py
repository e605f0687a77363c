"""Builds the Hyperplane nodes (hyperplane_plan.py) into a running lab: the state store, one Mininet
host per node on the underlay (like an edge host: fabric/edge.py `attach_to_spine`), its packet
loop (appliances/hyperplane/node_process.py), and failing and restoring a node.

The store: the lab's `EmbeddedStore`, or an `EtcdStore` on an etcd the lab starts on 127.0.0.1
(`hyperplane: {state_store: etcd}` or `Lab(state_store='etcd')`).  Either way the lab serves it on
a Unix socket in the run directory (`remote.StoreServer`): the nodes and Blackfoot run in network
namespaces, where 127.0.0.1 is their own, and a filesystem socket reaches the lab from all of them.
"""
import contextlib
import json
import os
import subprocess
import sys

from testbed.appliances import processes
from testbed.fabric import edge, edge_plan, hyperplane_plan
from testbed.fabric.controller import REPO
from testbed.state_store import open_store
from testbed.state_store.remote import StoreServer

WHAT = 'testbed.appliances.hyperplane.node_process'


def start(lab, state_store=None):
    """The lab's Hyperplane, running; None when no resource needs it."""
    if not hyperplane_plan.needed(lab.topology):
        return None
    fleet = Fleet(lab, state_store or lab.topology.hyperplane.state_store)
    try:
        fleet.build()
    except BaseException:
        fleet.stop()
        raise
    return fleet


class Fleet:
    def __init__(self, lab, backend):
        self.lab, self.topo, self.names, self.backend = lab, lab.topology, lab.names, backend
        self.nodes = {n.name: n for n in hyperplane_plan.nodes(self.topo)}
        self.hosts, self.procs, self.failed = {}, {}, []
        self.etcd = self.store = self.server = None
        self.last_counters = {}

    def build(self):
        if self.backend == 'etcd':
            from testbed.state_store.etcd_server import EtcdServer
            self.etcd = EtcdServer().start()
            self.lab.state.add('processes', [self.etcd.proc.pid, 'etcd'])
            self.store = open_store('etcd', endpoint=self.etcd.endpoint, prefix=f'vpclab-{self.names.prefix}')
        else:
            self.store = open_store('embedded')
        self.server = StoreServer(self.store, hyperplane_plan.store_socket(self.lab.run_dir))
        net, record = self.lab.network.net, self.lab.state.add
        record('interfaces', *(self.cable(n) for n in self.nodes.values()))
        for name, node in self.nodes.items():
            host = self.hosts[name] = net.addHost(self.names.prefix + name, ip=None)
            record('processes', [host.pid, f'mininet:{host.name}'])
            host.cmd('sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1')
            edge.attach_to_spine(self.topo, self.names, host, self.cable(node), node.mac, node.ip,
                                 hyperplane_plan.spine_of(node, self.topo.spines), node.spine_port)
        for name in self.nodes:
            self._write_config(name)
        for name in self.nodes:
            self._start(name)

    def cable(self, node):
        return f'{self.names.prefix}hu{node.k}'

    def _config_path(self, name):
        return os.path.join(self.lab.run_dir, f'{name}.json')

    def _write_config(self, name):
        config = hyperplane_plan.node_config(self.topo, self.nodes[name], self.lab.run_dir,
                                             (edge_plan.edge_ip(1), edge_plan.edge_mac(1)), self.topo.encapsulation)
        with open(self._config_path(name), 'w') as f:
            json.dump(config, f)

    def _start(self, name):
        proc = self.hosts[name].popen([sys.executable, '-m', WHAT, self._config_path(name)], stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        self.procs[name] = proc
        self.lab.state.add('processes', [proc.pid, WHAT])
        try:
            processes.wait_ready(proc)
        except RuntimeError as exc:
            raise RuntimeError(f'{exc}: {proc.stderr.read()[-800:] if proc.poll() is not None else ""}') from None

    # ---- failing and restoring ---------------------------------------------------------------
    def fail(self, name):
        """Node `name` dies (SIGKILL: no clean leave, its flows' state only in its peers' copies);
        the store forgets its lease at once, so its peers adopt its port blocks.  Its counters file
        goes: a dead node counts nothing, and readers wait for every file to be rewritten."""
        proc = self.procs.pop(name)
        proc.kill()
        proc.communicate()
        with contextlib.suppress(FileNotFoundError):
            os.remove(hyperplane_plan.counters_path(self.lab.run_dir, name))
        self.store.leave(name)
        self.failed.append(name)

    def restore(self, name):
        self._start(name)
        self.failed.remove(name)

    def counters(self):
        return self.last_counters

    def stop(self):
        for name, proc in list(self.procs.items()):
            try:
                self.last_counters[name] = processes.stop(proc)
            except Exception:       # noqa: BLE001  stop the others whatever one did
                pass
        self.procs = {}
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.store is not None:
            self.store.close()
        if self.etcd is not None:
            self.etcd.stop()
            self.etcd = None
