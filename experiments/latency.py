"""RTT by path (same host, across hosts, across racks) and of the first packet against
the next one, in proactive and reactive mode.

The first packet an instance sends to a peer pays for the synthetic ARP on its host and,
in reactive mode, for the mapping-service lookups (the sender's miss and the receiver's
check); the second packet of the same ping, 50 ms later, is its same-run baseline.  Each
(host, peer) pair gives one first packet, so samples come from many pairs.
"""
import statistics

from testbed.bench import plots, topogen, traffic
from testbed.bench.metric import Metric

DESCRIPTION = 'RTT CDFs by path; first packet against later ones, proactive and reactive'
PARAMETERS = dict(repeats=3, modes=['proactive', 'reactive'], racks=2, hosts_per_rack=2,
                  instances_per_host=4, count=50, first_samples=24, delay_ms=0.0,
                  loss_percent=0.0)
QUICK = dict(repeats=1, instances_per_host=3, count=20, first_samples=12)
METRICS = {
    'first_over_second_proactive': Metric('lower', 0.6, 'first / second packet RTT, proactive'),
    'first_over_second_reactive': Metric('lower', 0.6, 'first / second packet RTT, reactive'),
    'reactive_over_proactive_first': Metric('lower', 0.6,
                                            'first-packet RTT, reactive / proactive'),
    'cross_rack_over_same_host': Metric('lower', 0.5,
                                        'warm RTT across racks / within a host'),
}
PATHS = ('same-host', 'cross-host', 'cross-rack')


def path_of(topo, a, b):
    ha, hb = topo.hosts[a.host], topo.hosts[b.host]
    if ha.name == hb.name:
        return 'same-host'
    return 'cross-host' if ha.rack == hb.rack else 'cross-rack'


def topology(p, mode):
    hosts = topogen.host_names(p['racks'], p['hosts_per_rack'])
    links = None
    if p['delay_ms'] or p['loss_percent']:
        links = {'uplink': dict(delay_ms=p['delay_ms'], loss_percent=p['loss_percent'])}
    pins = [h for h in hosts for _ in range(p['instances_per_host'])]
    return topogen.generate('latency', p['racks'], p['hosts_per_rack'], {'blue': pins},
                            mode=mode, links=links)


def fresh_pairs(topo, instances):
    """Ordered pairs whose (sender's host, peer) and (peer's host, sender) were both
    never used, so neither cache nor ARP table knows them; by path, in turn."""
    seen, by_path = set(), {p: [] for p in PATHS}
    for a in instances:
        for b in instances:
            if a.name != b.name and (a.host, b.name) not in seen and (b.host, a.name) not in seen:
                seen |= {(a.host, b.name), (b.host, a.name)}
                by_path[path_of(topo, a, b)].append((a, b))
    while any(by_path.values()):
        for path in PATHS:
            if by_path[path]:
                yield path, by_path[path].pop(0)


def run(ctx):
    p = ctx.params
    rows = []
    for mode in p['modes']:
        ctx.progress(f'{mode} mode: starting the lab')
        with ctx.lab(topology(p, mode)) as lab:
            topo = lab.topology
            warm_pair = {}
            for n, (path, (a, b)) in enumerate(fresh_pairs(topo, topo.instances())):
                if n == p['first_samples']:
                    break
                got = traffic.rtt_by_seq(lab.node(a.name), b.ip, count=2)
                for seq, kind in ((1, 'first'), (2, 'second')):
                    rows.append(dict(mode=mode, path=path, kind=kind, src=a.name, dst=b.name,
                                     rtt_ms=got.get(seq)))
                warm_pair.setdefault(path, (a, b))
            ctx.progress('%s mode: %d warm pings on each path' % (mode, p['count']))
            for path, (a, b) in warm_pair.items():
                rows += [dict(mode=mode, path=path, kind='warm', src=a.name, dst=b.name,
                              rtt_ms=rtt) for rtt in traffic.rtts(lab.node(a.name), b.ip,
                                                                  p['count'])]
    return rows


def rtts(rows, **match):
    return [r['rtt_ms'] for r in rows if r['rtt_ms'] is not None
            and all(r[k] == v for k, v in match.items())]


def _median(values):
    return statistics.median(values) if values else float('nan')


def summarize(rows, params):
    out = {}
    for mode in params['modes']:
        out['first_over_second_' + mode] = (_median(rtts(rows, mode=mode, kind='first'))
                                            / _median(rtts(rows, mode=mode, kind='second')))
    if {'proactive', 'reactive'} <= set(params['modes']):
        out['reactive_over_proactive_first'] = (
            _median(rtts(rows, mode='reactive', kind='first'))
            / _median(rtts(rows, mode='proactive', kind='first')))
    mode = params['modes'][0]
    out['cross_rack_over_same_host'] = (_median(rtts(rows, mode=mode, kind='warm', path='cross-rack'))
                                        / _median(rtts(rows, mode=mode, kind='warm',
                                                       path='same-host')))
    return out


def describe(rows, params):
    lines = ['median RTT (ms)   ' + ''.join('%12s' % p for p in PATHS)]
    for mode in params['modes']:
        for kind in ('first', 'second', 'warm'):
            lines.append('%-9s %-7s' % (mode, kind) + ''.join(
                f'{_median(rtts(rows, mode=mode, kind=kind, path=p)):12.3f}' for p in PATHS))
    lost = sum(1 for r in rows if r['rtt_ms'] is None)
    lines.append('unanswered pings: %d of %d' % (lost, len(rows)))
    return lines


def plot(rows, params):
    fig, ax = plots.figure()
    for path in PATHS:
        plots.cdf(ax, rtts(rows, mode=params['modes'][0], kind='warm', path=path), path)
    ax.set(xlabel='RTT (ms)', ylabel='fraction of pings',
           title='Warm RTT by path ({} mode)'.format(params['modes'][0]))
    ax.legend()
    fig2, ax2 = plots.figure()
    for mode in params['modes']:
        for kind in ('first', 'second'):
            plots.cdf(ax2, rtts(rows, mode=mode, kind=kind), f'{mode}, {kind} packet')
    ax2.set(xlabel='RTT (ms)', ylabel='fraction of pairs', xscale='log',
            title='First packet to a new peer against the next one')
    ax2.legend(loc='lower right')
    return [('rtt-by-path', fig), ('first-packet', fig2)]
