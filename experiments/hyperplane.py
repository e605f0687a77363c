"""The NAT gateway on Hyperplane nodes against the internet gateway, and what a node's loss costs.

topologies/hyperplane-bench.yaml: pub-1 leaves through the internet gateway with its own elastic IP
(the hypervisor, then Blackfoot), priv-1 on the same physical host through NAT gateway nat-a (the
hypervisor, a Hyperplane node, then Blackfoot); the internet host example-web is the other end.
In one lab, so that the machine's load hits both paths alike:
- new connections per second: TCP connections opened and closed one after the other for `seconds`,
  from each instance in turn, `rounds` times (a NAT gateway's first packet of each connection finds a
  port and copies its entry to the other node of the shard);
- TCP throughput: iperf3 from each instance, MSS 1460 (the internet link's size);
- a node's loss: priv-1 pings example-web every `interval_ms`; after `warmup` replies the node that
  carries the ping's bucket fails (`Lab.fail_node`), and the ping goes on through the survivor, which
  had a copy of the entry and adopts the lost node's port block.  Lost packets against the same ping
  with no failure, in the same lab; the node is restored afterwards.
"""
import os
import re
import statistics
import subprocess

from experiments import flood
from experiments.edge import iperf_mss
from testbed.appliances.hyperplane import sharding
from testbed.appliances.packets import ip4
from testbed.bench import plots
from testbed.bench.metric import Metric
from testbed.fabric import hyperplane_plan

DESCRIPTION = 'NAT gateway (Hyperplane) vs internet gateway: new connections/s, TCP; packets lost when a node fails'
PARAMETERS = dict(repeats=1, rounds=2, seconds=3.0, tcp_seconds=3.0, pings=600, interval_ms=10, warmup=100)
QUICK = dict(rounds=1, seconds=2.0, tcp_seconds=2.0, pings=300)
METRICS = {
    'nat_connections_over_igw': Metric('higher', 0.65, 'new TCP connections/s: through the NAT gateway / the '
                                       'internet gateway'),
    'nat_tcp_over_igw': Metric('higher', 0.5, 'TCP Mbit/s: through the NAT gateway / the internet gateway'),
    # Wide: the outage is set by timers' phases (a survivor adopts the lost node's blocks at its next
    # housekeeping, every 0.5 s; Blackfoot reads the blocks again 0.2 s apart), 4-42 of the quick
    # run's 300 pings; a ping that never recovers loses 200 (docs/experiments.md).
    'node_loss_lost_fraction': Metric('lower', 5.0, "fraction of a ping's packets lost when the node carrying "
                                      'it fails (the same ping without a failure loses none)'),
}
TOPOLOGY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'topologies',
                        'hyperplane-bench.yaml')
INTERNET = '198.51.100.10'
PATHS = (('internet-gateway', 'pub-1'), ('nat-gateway', 'priv-1'))


def connections(ctx, lab):
    rows = []
    server = flood.start(lab.node('example-web'), flood.SERVE, flood.PORT)
    try:
        lab.wait_until(lambda: f':{flood.PORT} ' in lab.node('example-web').cmd('ss -ltn'),
                       what=f'example-web to listen on {flood.PORT}')
        for r in range(ctx.params['rounds']):
            for path, instance in PATHS:
                ctx.progress(f'connections round {r + 1}: {path}')
                ok, failed = flood.counts(flood.finish(flood.start(lab.node(instance), flood.CONNECT, INTERNET,
                                                                   flood.PORT, ctx.params['seconds'])))
                rows.append(dict(part='connections', path=path, round=r, per_s=ok / ctx.params['seconds'],
                                 failed=failed))
    finally:
        server.kill()
        server.wait()
    return rows


def throughput(ctx, lab):
    rows = []
    for path, instance in PATHS:
        ctx.progress(f'TCP {path}')
        rows.append(dict(part='tcp', path=path, mbps=iperf_mss(lab.node(instance), lab.node('example-web'), INTERNET,
                                                               ctx.params['tcp_seconds'])))
    return rows


def carrier(lab):
    """The live node the VPC router sends priv-1's pings to (ICMP: the bucket of the source address)."""
    nat = next(r for r in hyperplane_plan.resources(lab.topology) if r.kind == 'nat')
    live = [n for n in nat.shard if n not in lab.failed_nodes]
    return sharding.bucket_owner(nat.id, sharding.bucket_of(ip4(lab.topology.instance('priv-1').ip)), live)


def ping(ctx, lab, fail):
    """One ping from priv-1 through the NAT gateway; with `fail`, its node fails after `warmup` replies."""
    p = ctx.params
    proc = lab.node('priv-1').popen(['ping', '-n', '-i', f'{p["interval_ms"] / 1000:g}', '-c', str(p['pings']),
                                     '-W', '1', INTERNET], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    node, lines = (carrier(lab) if fail else None), []
    try:
        for line in proc.stdout:
            lines.append(line)
            if node and sum('bytes from' in x for x in lines) == p['warmup']:
                ctx.progress(f'{node} fails')
                lab.fail_node(node)
        proc.wait()
    finally:
        if node and node in lab.failed_nodes:
            lab.restore_node(node)
    sent, received = (int(x) for x in re.search(r'(\d+) packets transmitted, (\d+) received', ''.join(lines)).groups())
    return dict(part='node-loss', path='nat-gateway', failed_node=node or '-', sent=sent, received=received,
                lost=sent - received, lost_ms=(sent - received) * p['interval_ms'])


def run(ctx):
    with ctx.lab(TOPOLOGY) as lab:
        rows = connections(ctx, lab) + throughput(ctx, lab)
        for fail in (False, True):
            ctx.progress('ping, ' + ('a node fails' if fail else 'no failure'))
            rows.append(ping(ctx, lab, fail))
    return rows


def _median(rows, part, path, key):
    got = [r[key] for r in rows if r['part'] == part and r['path'] == path]
    return statistics.median(got) if got else float('nan')


def _ratio(rows, part, key):
    igw = _median(rows, part, 'internet-gateway', key)
    return _median(rows, part, 'nat-gateway', key) / igw if igw else float('nan')


def _loss(rows, failed):
    got = [r for r in rows if r['part'] == 'node-loss' and (r['failed_node'] != '-') == failed]
    return sum(r['lost'] for r in got) / sum(r['sent'] for r in got) if got else float('nan')


def summarize(rows, params):
    return {'nat_connections_over_igw': _ratio(rows, 'connections', 'per_s'),
            'nat_tcp_over_igw': _ratio(rows, 'tcp', 'mbps'),
            'node_loss_lost_fraction': _loss(rows, True)}


def describe(rows, params):
    failed = {path: sum(r['failed'] for r in rows if r['part'] == 'connections' and r['path'] == path)
              for path, _ in PATHS}
    lines = [f'new connections/s  internet gateway {_median(rows, "connections", "internet-gateway", "per_s"):7.0f}'
             f'   NAT gateway {_median(rows, "connections", "nat-gateway", "per_s"):7.0f}'
             f'   (timed out: {failed["internet-gateway"]} / {failed["nat-gateway"]})',
             f'TCP Mbit/s         internet gateway {_median(rows, "tcp", "internet-gateway", "mbps"):7.0f}'
             f'   NAT gateway {_median(rows, "tcp", "nat-gateway", "mbps"):7.0f}']
    for r in rows:
        if r['part'] == 'node-loss':
            what = f'{r["failed_node"]} fails' if r['failed_node'] != '-' else 'no failure'
            lines.append(f'ping through the NAT gateway, {what}: {r["lost"]} of {r["sent"]} lost '
                         f'(~{r["lost_ms"]} ms without packets)')
    return lines


def plot(rows, params):
    figures = []
    for part, key, label in (('connections', 'per_s', 'new TCP connections/s'), ('tcp', 'mbps', 'TCP Mbit/s')):
        fig, ax = plots.figure()
        paths = [path for path, _ in PATHS]
        ax.bar(paths, [_median(rows, part, path, key) for path in paths])
        ax.set(ylabel=label, title=f'Hyperplane NAT vs internet gateway: {label}')
        figures.append((part, fig))
    fig, ax = plots.figure()
    losses = [r for r in rows if r['part'] == 'node-loss']
    ax.bar([r['failed_node'] if r['failed_node'] != '-' else 'no failure' for r in losses], [r['lost'] for r in losses])
    ax.set(ylabel='ping packets lost', title='NAT gateway: a node fails mid-ping')
    figures.append(('node-loss', fig))
    return figures
