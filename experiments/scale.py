"""Start-up and teardown time, memory and flows per host against the number of instances.

For each size, a lab with that many instances spread over the physical hosts starts
(until every hypervisor is programmed), proves two instances talk, and stops; then, in
the same run, a plain Mininet network with as many hosts on one plain OVS bridge does
the same (testbed/fabric/plain.py).  Figures are vpclab's cost over the plain one.
"""
import re
import statistics
import subprocess
import time

from testbed.bench import plots, topogen
from testbed.bench.metric import Metric
from testbed.fabric.names import DEFAULT_PREFIX, Names
from testbed.fabric.plain import standalone
from testbed.observe.journey import ping

DESCRIPTION = 'start-up/teardown time and memory vs instances, against plain Mininet + OVS'
PARAMETERS = dict(repeats=1, sizes=[16, 50, 100, 200], racks=2, hosts_per_rack=2)
QUICK = dict(repeats=2, sizes=[8, 48])   # a slope over 8 instances was too noisy
METRICS = {
    'startup_per_instance_over_plain': Metric(
        'lower', 0.5, 'start-up time per added instance: vpclab / plain'),
    'teardown_per_instance_over_plain': Metric(
        'lower', 0.5, 'teardown time per added instance: vpclab / plain'),
    'startup_largest_over_plain': Metric('lower', 0.5, 'start-up at the largest size: vpclab / plain'),
}


def used_mb():
    with open('/proc/meminfo') as f:
        info = {line.split(':')[0]: int(line.split()[1]) for line in f}
    return (info['MemTotal'] - info['MemAvailable']) / 1024.0


def flows_per_host(lab, hosts):
    """The flows on the busiest physical host's bridge (ovs-ofctl dump-aggregate)."""
    counts = []
    for h in hosts:
        out = subprocess.run(['ovs-ofctl', '-O', 'OpenFlow13', 'dump-aggregate', lab.bridge(h)],
                             capture_output=True, text=True, check=True).stdout
        counts.append(int(re.search(r'flow_count=(\d+)', out).group(1)))
    return max(counts)


def vpclab_once(ctx, size):
    p = ctx.params
    hosts = topogen.host_names(p['racks'], p['hosts_per_rack'])
    topo = topogen.generate(f'scale-{size}', p['racks'], p['hosts_per_rack'],
                            {'blue': [hosts[i % len(hosts)] for i in range(size)]})
    before = used_mb()
    with ctx.lab(topo) as lab:
        memory = used_mb() - before
        a, b = topo.instances()[0], topo.instances()[1]
        ok = ping(lab.node(a.name), b.ip, count=1)[0] == 1
        flows = flows_per_host(lab, topo.hosts)
    return dict(up_s=lab.timings['ready_s'], down_s=lab.timings['stop_s'], memory_mb=memory,
                ping_ok=ok, flows_per_host=flows)


def plain_once(size):
    before = used_mb()
    t0 = time.monotonic()
    with standalone(Names(DEFAULT_PREFIX), hosts=size) as plain:
        up = time.monotonic() - t0
        memory = used_mb() - before
        ok = ping(plain.host(1), plain.ip(2), count=1)[0] == 1
        t1 = time.monotonic()
    return dict(up_s=up, down_s=time.monotonic() - t1, memory_mb=memory, ping_ok=ok)


def run(ctx):
    rows = []
    for size in ctx.params['sizes']:
        ctx.progress(f'{size} instances: vpclab')
        rows.append(dict(size=size, network='vpclab', **vpclab_once(ctx, size)))
        ctx.progress(f'{size} instances: plain Mininet + OVS')
        rows.append(dict(size=size, network='plain', **plain_once(size)))
    return rows


def _median(rows, key, network, size):
    got = [r[key] for r in rows if r['network'] == network and r['size'] == size and r.get(key) is not None]
    return statistics.median(got) if got else float('nan')


def per_instance(rows, key, network, sizes):
    small, large = min(sizes), max(sizes)
    return ((_median(rows, key, network, large) - _median(rows, key, network, small))
            / (large - small)) if large > small else float('nan')


def summarize(rows, params):
    sizes = params['sizes']
    return {
        'startup_per_instance_over_plain': per_instance(rows, 'up_s', 'vpclab', sizes)
        / per_instance(rows, 'up_s', 'plain', sizes),
        'teardown_per_instance_over_plain': per_instance(rows, 'down_s', 'vpclab', sizes)
        / per_instance(rows, 'down_s', 'plain', sizes),
        'startup_largest_over_plain': _median(rows, 'up_s', 'vpclab', max(sizes))
        / _median(rows, 'up_s', 'plain', max(sizes)),
    }


def describe(rows, params):
    lines = ['instances  network  up (s)  down (s)  memory (MB)  flows/host  ping']
    for r in rows:
        ping = 'ok' if r['ping_ok'] else 'FAILED'
        flows = r.get('flows_per_host')           # the plain network has one NORMAL flow; older rows none
        lines.append(f'{r["size"]:9d}  {r["network"]:<7}  {r["up_s"]:6.2f}  {r["down_s"]:8.2f}  '
                     f'{r["memory_mb"]:11.0f}  {"-" if flows is None else flows:>10}  {ping}')
    for network in ('vpclab', 'plain'):
        lines.append('{}: {:.1f} ms start-up, {:.1f} ms teardown, {:.2f} MB per added instance'.format(
            network, per_instance(rows, 'up_s', network, params['sizes']) * 1000,
            per_instance(rows, 'down_s', network, params['sizes']) * 1000,
            per_instance(rows, 'memory_mb', network, params['sizes'])))
    return lines


def plot(rows, params):
    sizes = params['sizes']
    figures = []
    for key, label, name in (('up_s', 'start-up (s)', 'startup'),
                             ('down_s', 'teardown (s)', 'teardown'),
                             ('memory_mb', 'memory used (MB)', 'memory')):
        fig, ax = plots.figure()
        for network in ('vpclab', 'plain'):
            ax.plot(sizes, [_median(rows, key, network, s) for s in sizes], 'o-',
                    label='vpclab' if network == 'vpclab' else 'plain Mininet + OVS')
        ax.set(xlabel='instances', ylabel=label, title=f'{label} against instances')
        ax.legend()
        figures.append((name, fig))
    fig, ax = plots.figure()
    ax.plot(sizes, [_median(rows, 'flows_per_host', 'vpclab', s) for s in sizes], 'o-', label='vpclab')
    ax.set(xlabel='instances', ylabel='flows on the busiest host', title='flows per host against instances')
    ax.legend()
    figures.append(('flows', fig))
    return figures
