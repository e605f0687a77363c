"""Delay and loss on underlay cables where a topology asks for them (fabric.links).

netem where the kernel has it: a qdisc on both ends of the cable, each delaying what it
sends.  Otherwise (this machine's kernel has no netem) the cable is cut in two and a
userspace delay line (testbed/fabric/delayline.py) runs in a small Mininet node in the
middle.  `method` says which was used; experiments write it into every result.
"""
import json
import subprocess
import sys

NETEM = 'netem'
DELAYLINE = 'userspace delay line'
NONE = 'none'

# A throwaway network namespace: nothing to clean up whatever the answer.
NETEM_PROBE = ['unshare', '--net', 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem',
               'delay', '1ms']
DELAYLINE_MODULE = 'testbed.fabric.delayline'
SIDES = ('side0', 'side1')    # the delay node's two interfaces (inside its namespace)


def netem_available(run=subprocess.run):
    try:
        return run(NETEM_PROBE, capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


def choose_method(topo, probe=netem_available):
    if not any(c.delay_ms or c.loss_percent for c in topo.links.values()):
        return NONE
    return NETEM if probe() else DELAYLINE


def netem_command(interface, condition):
    return (f'tc qdisc replace dev {interface} root netem delay {condition.delay_ms:g}ms '
            f'loss {condition.loss_percent:g}%')


def delayline_command(condition):
    return [sys.executable, '-m', DELAYLINE_MODULE, SIDES[0], SIDES[1],
            '--delay-ms', f'{condition.delay_ms:g}',
            '--loss-percent', f'{condition.loss_percent:g}']


class LinkConditioner:
    """Used by the fabric while it builds: `cable()` adds one underlay cable, conditioned
    or not; `start()` applies the conditions once the network runs; `stop()` ends the
    delay lines and returns their counters."""

    def __init__(self, topo, names, record, method=None):
        self.topo, self.names, self.record = topo, names, record
        self.method = method or choose_method(topo)
        self.netem_interfaces = []       # (interface, condition)
        self.delay_nodes = []            # (node, condition)
        self.processes = []
        self.counters = {}

    def conditioned(self, kind):
        """True if cables of `kind` get delay or loss (so they must be veth pairs)."""
        return self.method != NONE and self.topo.links.get(kind) is not None

    def cable(self, net, kind, node1, node2, port1, port2, name1, name2, link_cls):
        condition = self.topo.links.get(kind)
        if self.method == DELAYLINE and condition is not None:
            middle = net.addHost(self.names.delay_node(name1), ip=None)
            middle.cmd('sysctl -qw net.ipv6.conf.all.disable_ipv6=1 '
                       'net.ipv6.conf.default.disable_ipv6=1')
            net.addLink(node1, middle, port1=port1, cls=link_cls, intfName1=name1,
                        intfName2=SIDES[0])
            net.addLink(middle, node2, port2=port2, cls=link_cls, intfName1=SIDES[1],
                        intfName2=name2)
            self.delay_nodes.append((middle, condition))
            return
        if self.method == NETEM and condition is not None:
            self.netem_interfaces += [(name1, condition), (name2, condition)]
        net.addLink(node1, node2, port1=port1, port2=port2, cls=link_cls,
                    intfName1=name1, intfName2=name2)

    def start(self, run_root, mtu):
        for interface, condition in self.netem_interfaces:
            run_root(netem_command(interface, condition))
        for node, condition in self.delay_nodes:
            node.cmd(' && '.join(f'ip link set {side} mtu {mtu} up && ethtool -K {side} tx off >/dev/null'
                                 for side in SIDES))
            proc = node.popen(delayline_command(condition), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
            self.processes.append((node.name, proc))
            if proc.stdout.readline().strip() != 'ready':
                raise RuntimeError(f'the delay line in {node.name} did not start: {proc.stderr.read()[-500:]}')
            # once it runs, its command line is final (Mininet starts it through mnexec)
            self.record('processes', [proc.pid, DELAYLINE_MODULE])

    def stop(self):
        for name, proc in self.processes:
            proc.terminate()
            try:
                _, err = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            last = (err or '').strip().splitlines()[-1:]
            try:
                self.counters[name] = json.loads(last[0]) if last else None
            except ValueError:
                self.counters[name] = None
        self.processes = []
        return self.counters

    def describe(self):
        return dict(method=self.method,
                    links={k: dict(delay_ms=c.delay_ms, loss_percent=c.loss_percent)
                           for k, c in self.topo.links.items()})
