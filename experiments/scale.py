"""Start-up and teardown time, memory, flows per host and warm RTT against the number of
instances.

For each size, a lab with that many instances in one VPC, spread over the physical hosts,
starts (until every hypervisor is programmed), counts the flows on every hypervisor bridge,
pings between two instances on different hosts, and stops; then, in the same run, a plain
Mininet network with as many hosts on one plain OVS bridge does the same
(testbed/fabric/plain.py).  Figures are vpclab's cost over the plain one.  `groups=default`
puts every instance in the VPC's default group (which admits its own members), `allow-all`
in a group that admits everything.
"""
import os
import statistics
import subprocess
import time

from testbed.bench import plots, topogen, traffic
from testbed.bench.metric import Metric
from testbed.bench.params import ParamError
from testbed.fabric.names import DEFAULT_PREFIX, Names
from testbed.fabric.plain import standalone
from testbed.observe.journey import ping

DESCRIPTION = 'start-up/teardown, memory, flows per host, RTT vs instances, against plain Mininet + OVS'
PARAMETERS = dict(repeats=1, sizes=[16, 50, 100, 200, 500, 1000], racks=2, hosts_per_rack=2,
                  groups='default', rtt_count=20)
QUICK = dict(repeats=3, sizes=[16, 200], groups='allow-all')   # 16-100, median of 2: slopes moved 30-45 %
GROUPS = ('default', 'allow-all')
METRICS = {
    # tolerances: at least twice the worst run-to-run spread measured (docs/experiments.md)
    'startup_per_instance_over_plain': Metric(
        'lower', 0.6, 'start-up time per added instance: vpclab / plain'),
    'teardown_per_instance_over_plain': Metric(
        'lower', 0.5, 'teardown time per added instance: vpclab / plain'),
    'startup_largest_over_plain': Metric('lower', 0.75, 'start-up at the largest size: vpclab / plain'),
    'teardown_largest_over_plain': Metric('lower', 0.5, 'teardown at the largest size: vpclab / plain'),
    'rtt_largest_over_plain': Metric('lower', 0.5, 'warm RTT across hosts at the largest size: '
                                     'vpclab / plain (same number of hosts)'),
}
NETWORKS = ('vpclab', 'plain')


def used_mb():
    with open('/proc/meminfo') as f:
        info = {line.split(':')[0]: int(line.split()[1]) for line in f}
    return (info['MemTotal'] - info['MemAvailable']) / 1024.0


def flow_count(bridge):
    out = subprocess.run(['ovs-ofctl', '-O', 'OpenFlow13', 'dump-aggregate', bridge],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split('flow_count=')[1].split()[0])


def cpu_seconds(pid):
    """User + system CPU time a process has used so far."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def warm_rtt(node, ip, count):
    got = traffic.rtts(node, ip, count + 1)[1:]      # the first may still resolve ARP
    return statistics.median(got) if got else None


def vpclab_once(ctx, size):
    p = ctx.params
    if p['groups'] not in GROUPS:
        raise ParamError(f'groups={p["groups"]}: use {" or ".join(GROUPS)}')
    hosts = topogen.host_names(p['racks'], p['hosts_per_rack'])
    topo = topogen.generate(f'scale-{size}', p['racks'], p['hosts_per_rack'],
                            {'blue': [hosts[i % len(hosts)] for i in range(size)]},
                            security_groups=p['groups'] == 'allow-all')
    before = used_mb()
    with ctx.lab(topo) as lab:
        memory = used_mb() - before
        a, b = topo.instances()[0], topo.instances()[1]      # on two different hosts
        ok = ping(lab.node(a.name), b.ip, count=1)[0] == 1
        pid, t0 = lab.controller.proc.pid, time.monotonic()
        cpu0 = cpu_seconds(pid)
        rtt = warm_rtt(lab.node(a.name), b.ip, p['rtt_count'])
        cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
        flows = [flow_count(lab.bridge(h)) for h in topo.hosts]
    return dict(up_s=lab.timings['ready_s'], down_s=lab.timings['stop_s'], memory_mb=memory,
                ping_ok=ok, rtt_ms=rtt, flows_per_host=statistics.median(flows), controller_cpu=cpu)


def plain_once(ctx, size):
    before = used_mb()
    t0 = time.monotonic()
    with standalone(Names(DEFAULT_PREFIX), hosts=size) as plain:
        up = time.monotonic() - t0
        memory = used_mb() - before
        ok = ping(plain.host(1), plain.ip(2), count=1)[0] == 1
        rtt = warm_rtt(plain.host(1), plain.ip(2), ctx.params['rtt_count'])
        flows = flow_count(f'{DEFAULT_PREFIX}plain')
        t1 = time.monotonic()
    return dict(up_s=up, down_s=time.monotonic() - t1, memory_mb=memory, ping_ok=ok, rtt_ms=rtt,
                flows_per_host=flows)


def run(ctx):
    rows = []
    for size in ctx.params['sizes']:
        ctx.progress(f'{size} instances: vpclab')
        rows.append(dict(size=size, network='vpclab', **vpclab_once(ctx, size)))
        ctx.progress(f'{size} instances: plain Mininet + OVS')
        rows.append(dict(size=size, network='plain', **plain_once(ctx, size)))
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
    largest = max(sizes)

    def over_plain(key):
        return _median(rows, key, 'vpclab', largest) / _median(rows, key, 'plain', largest)
    return {
        'startup_per_instance_over_plain': per_instance(rows, 'up_s', 'vpclab', sizes)
        / per_instance(rows, 'up_s', 'plain', sizes),
        'teardown_per_instance_over_plain': per_instance(rows, 'down_s', 'vpclab', sizes)
        / per_instance(rows, 'down_s', 'plain', sizes),
        'startup_largest_over_plain': over_plain('up_s'),
        'teardown_largest_over_plain': over_plain('down_s'),
        'rtt_largest_over_plain': over_plain('rtt_ms'),
    }


def describe(rows, params):
    lines = ['instances  network  up (s)  down (s)  memory (MB)  flows/host  RTT (ms)  ping  controller CPU']
    for r in rows:
        ping_text = 'ok' if r['ping_ok'] else 'FAILED'
        rtt = r.get('rtt_ms')
        lines.append(f'{r["size"]:9d}  {r["network"]:<7}  {r["up_s"]:6.2f}  {r["down_s"]:8.2f}  '
                     f'{r["memory_mb"]:11.0f}  {r.get("flows_per_host", 0):10.0f}  '
                     f'{rtt if rtt is not None else float("nan"):8.3f}  {ping_text:>4}  '
                     + (f'{r["controller_cpu"] * 100:13.0f}%' if r.get('controller_cpu') is not None else ''))
    for network in NETWORKS:
        lines.append(f'{network}: {per_instance(rows, "up_s", network, params["sizes"]) * 1000:.1f} ms start-up, '
                     f'{per_instance(rows, "down_s", network, params["sizes"]) * 1000:.1f} ms teardown, '
                     f'{per_instance(rows, "memory_mb", network, params["sizes"]):.2f} MB per added instance')
    return lines


def plot(rows, params):
    sizes = params['sizes']
    figures = []
    for key, label, name in (('up_s', 'start-up (s)', 'startup'),
                             ('down_s', 'teardown (s)', 'teardown'),
                             ('memory_mb', 'memory used (MB)', 'memory'),
                             ('flows_per_host', 'flows per hypervisor bridge (median)', 'flows'),
                             ('rtt_ms', 'warm RTT (ms, median)', 'rtt')):
        fig, ax = plots.figure()
        for network in NETWORKS:
            ax.plot(sizes, [_median(rows, key, network, s) for s in sizes], 'o-',
                    label='vpclab' if network == 'vpclab' else 'plain Mininet + OVS (one bridge)')
        ax.set(xlabel='instances', ylabel=label, title=f'{label} against instances')
        ax.legend()
        figures.append((name, fig))
    return figures
