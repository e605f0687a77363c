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
                  loss_percent=0.0, cables=['patch'])
QUICK = dict(repeats=2, instances_per_host=3, count=50, first_samples=12)
METRICS = {
    'first_over_second_proactive': Metric('lower', 0.6, 'first / second packet RTT, proactive'),
    'first_over_second_reactive': Metric('lower', 0.6, 'first / second packet RTT, reactive'),
    'reactive_over_proactive_first': Metric('lower', 0.6,
                                            'first-packet RTT, reactive / proactive'),
    'cross_rack_over_same_host': Metric('lower', 0.5,
                                        'warm RTT across racks / within a host'),
    'cross_host_over_same_host': Metric('lower', 0.5,
                                        'warm RTT across hosts / within a host'),
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
    """cables=patch,veth runs each mode on both fabrics (testbed/fabric/cables.py), in turn."""
    p = ctx.params
    rows = []
    for mode in p['modes']:
        for cables in p['cables']:
            ctx.progress(f'{mode} mode, {cables} cables: starting the lab')
            with ctx.lab(topology(p, mode), cables=cables) as lab:
                rows += [dict(row, cables=cables) for row in _measure(ctx, lab, mode)]
    return rows


def _measure(ctx, lab, mode):
    p, topo, rows = ctx.params, lab.topology, []
    warm_pair = {}
    for n, (path, (a, b)) in enumerate(fresh_pairs(topo, topo.instances())):
        if n == p['first_samples']:
            break
        got = traffic.rtt_by_seq(lab.node(a.name), b.ip, count=2)
        for seq, kind in ((1, 'first'), (2, 'second')):
            rows.append(dict(mode=mode, path=path, kind=kind, src=a.name, dst=b.name,
                             rtt_ms=got.get(seq)))
        warm_pair.setdefault(path, (a, b))
    ctx.progress(f'{mode} mode: {p["count"]} warm pings on each path')
    for path, (a, b) in warm_pair.items():
        rows += [dict(mode=mode, path=path, kind='warm', src=a.name, dst=b.name, rtt_ms=rtt)
                 for rtt in traffic.rtts(lab.node(a.name), b.ip, p['count'])]
    return rows


def rtts(rows, **match):
    """RTTs of the answered pings whose fields match (a field a row lacks, like `cables` in
    results older than it, matches anything)."""
    return [r['rtt_ms'] for r in rows if r['rtt_ms'] is not None
            and all(r.get(k, v) == v for k, v in match.items())]


def cables_of(params):
    return params.get('cables', ['patch'])


def _median(values):
    return statistics.median(values) if values else float('nan')


def summarize(rows, params):
    out = {}
    cables = cables_of(params)
    on = dict(cables=cables[0])
    for mode in params['modes']:
        out['first_over_second_' + mode] = (_median(rtts(rows, mode=mode, kind='first', **on))
                                            / _median(rtts(rows, mode=mode, kind='second', **on)))
    if {'proactive', 'reactive'} <= set(params['modes']):
        out['reactive_over_proactive_first'] = (
            _median(rtts(rows, mode='reactive', kind='first', **on))
            / _median(rtts(rows, mode='proactive', kind='first', **on)))
    mode = params['modes'][0]
    for cable in cables:
        same = _median(rtts(rows, mode=mode, kind='warm', path='same-host', cables=cable))
        suffix = '' if cable == cables[0] else f'_{cable}'
        for path in PATHS[1:]:
            out[f'{path.replace("-", "_")}_over_same_host{suffix}'] = _median(
                rtts(rows, mode=mode, kind='warm', path=path, cables=cable)) / same
    return out


def describe(rows, params):
    lines = ['median RTT (ms)          ' + ''.join(f'{p:>12}' for p in PATHS)]
    for cable in cables_of(params):
        for mode in params['modes']:
            for kind in ('first', 'second', 'warm'):
                lines.append(f'{cable:<6} {mode:<9} {kind:<7}' + ''.join(
                    f'{_median(rtts(rows, mode=mode, kind=kind, path=p, cables=cable)):12.3f}'
                    for p in PATHS))
    lost = sum(1 for r in rows if r['rtt_ms'] is None)
    lines.append(f'unanswered pings: {lost} of {len(rows)}')
    return lines


def plot(rows, params):
    fig, ax = plots.figure()
    cables = cables_of(params)
    for cable in cables:
        for path in PATHS:
            label = path if len(cables) == 1 else f'{path}, {cable} cables'
            plots.cdf(ax, rtts(rows, mode=params['modes'][0], kind='warm', path=path, cables=cable), label)
    ax.set(xlabel='RTT (ms)', ylabel='fraction of pings',
           title=f'Warm RTT by path ({params["modes"][0]} mode)')
    ax.legend()
    fig2, ax2 = plots.figure()
    for mode in params['modes']:
        for kind in ('first', 'second'):
            plots.cdf(ax2, rtts(rows, mode=mode, kind=kind, cables=cables[0]), f'{mode}, {kind} packet')
    ax2.set(xlabel='RTT (ms)', ylabel='fraction of pairs', xscale='log',
            title='First packet to a new peer against the next one')
    ax2.legend(loc='lower right')
    return [('rtt-by-path', fig), ('first-packet', fig2)]
