"""TCP and UDP throughput by path at each MTU, beside a plain Open vSwitch path.

For every MTU one lab runs, and beside it, in the same run, two Mininet hosts on one
plain netdev bridge with NORMAL forwarding (testbed/fabric/plain.py): no encapsulation,
no VPC pipeline, the same offloads and MTU.  Every VPC figure is a ratio to that path.
"""
import statistics

from testbed.bench import plots, topogen, traffic
from testbed.bench.metric import Metric
from testbed.bench.params import ParamError

DESCRIPTION = 'TCP/UDP throughput same host, across hosts and racks, MTU 1500 vs 9001, vs plain OVS'
PARAMETERS = dict(repeats=2, seconds=3.0, mtus=[1500, 9001], protocols=['tcp', 'udp'],
                  udp_rate='2G', security_groups=['default'], cables=['patch'])
QUICK = dict(repeats=3, seconds=2.0, protocols=['tcp'])   # medians of 3: one run once moved a ratio by 35 %
PATHS = ('plain-ovs', 'same-host', 'cross-host', 'cross-rack')
SG_CHOICES = ('default', 'on', 'off')    # default: whatever the lab does; on/off: issue 3
METRICS = {f'{proto}_{path.replace("-", "_")}_{mtu}': Metric(
    'higher', 0.4, f'{proto.upper()} {path} / plain OVS, MTU {mtu}')
    for proto in ('tcp', 'udp') for path in PATHS[1:] for mtu in (1500, 9001)}
METRICS.update({f'{proto}_{path.replace("-", "_")}_over_same_host_{mtu}': Metric(
    'higher', 0.4, f'{proto.upper()} {path} / same host, MTU {mtu}')
    for proto in ('tcp', 'udp') for path in PATHS[2:] for mtu in (1500, 9001)})
METRICS['tcp_9001_over_1500_cross_host'] = Metric(
    'higher', 0.4, 'TCP across hosts, MTU 9001 / 1500 (each over plain OVS)')
METRICS.update({f'{proto}_cross_host_{mtu}_sg_on_over_off': Metric(
    'higher', 0.4, f'{proto.upper()} across hosts, MTU {mtu}: security groups on / off (each over plain OVS)')
    for proto in ('tcp', 'udp') for mtu in (1500, 9001)})


def topology(mtu, sg):
    # blue-1 and blue-2 share r1-h1; blue-3 is on r1-h2, blue-4 in the other rack
    return topogen.generate(f'throughput-{mtu}', 2, 2,
                            {'blue': ['r1-h1', 'r1-h1', 'r1-h2', 'r2-h1']}, mtu=mtu,
                            security_groups=sg == 'on')


def lab_options(sg):
    if sg not in SG_CHOICES:
        raise ParamError(f'security_groups={sg}: use {", ".join(SG_CHOICES)}')
    return {} if sg == 'default' else dict(security_groups=sg == 'on')


def run(ctx):
    """cables=patch,veth measures both fabrics (testbed/fabric/cables.py), each beside its plain path."""
    p = ctx.params
    rows = []
    for sg in p['security_groups']:
        options = lab_options(sg)
        for mtu in p['mtus']:
            for cables in p['cables']:
                ctx.progress(f'MTU {mtu}, security groups {sg}, {cables} cables: starting the lab and the plain path')
                with ctx.lab(topology(mtu, sg), cables=cables, **options) as lab, \
                        ctx.plain(lab, mtu=mtu) as plain:
                    rows += [dict(row, security_groups=sg, mtu=mtu, cables=cables)
                             for row in _measure(ctx, lab, plain, mtu)]
    return rows


def _measure(ctx, lab, plain, mtu):
    p, rows = ctx.params, []
    ends = {'plain-ovs': (plain.host(1), plain.host(2), plain.ip(2))}
    for path, dst in (('same-host', 'blue-2'), ('cross-host', 'blue-3'), ('cross-rack', 'blue-4')):
        ends[path] = (lab.node('blue-1'), lab.node(dst), lab.topology.instance(dst).ip)
    for proto in p['protocols']:
        for path in PATHS:
            client, server, ip = ends[path]
            ctx.progress(f'{proto} MTU {mtu} {path}')
            got = traffic.iperf(client, server, ip, p['seconds'], udp=proto == 'udp',
                                udp_rate=p['udp_rate'], length=mtu - 28 if proto == 'udp' else None)
            rows.append(dict(protocol=proto, path=path, **got))
    return rows


def mbps(rows, **match):
    """Median of the rows whose fields match (a field a row lacks, like `cables` in results
    older than it, matches anything)."""
    got = [r['mbps'] for r in rows if all(r.get(k, v) == v for k, v in match.items())]
    return statistics.median(got) if got else None


def cables_of(params):
    return params.get('cables', ['patch'])


def ratio(rows, sg, proto, mtu, path, over='plain-ovs', cables=None):
    """The median over repeats of each repeat's ratio: a repeat measures the paths one after the
    other, and the machine drifts between repeats (one run's plain path went from 372 to 575 Mbit/s
    over five repeats), which a ratio of medians would mix into the figure."""
    on = dict(security_groups=sg, protocol=proto, mtu=mtu, **({'cables': cables} if cables else {}))
    pairs = []
    for repeat in {r.get('repeat') for r in rows}:
        base, value = mbps(rows, path=over, repeat=repeat, **on), mbps(rows, path=path, repeat=repeat, **on)
        if base and value is not None:
            pairs.append(value / base)
    return statistics.median(pairs) if pairs else None


def summarize(rows, params):
    out = {}
    groups, cables = params['security_groups'], cables_of(params)
    for proto in params['protocols']:
        for mtu in params['mtus']:
            for cable in cables:
                suffix = '' if cable == cables[0] else f'_{cable}'
                for path in PATHS[1:]:
                    name = path.replace('-', '_')
                    value = ratio(rows, groups[0], proto, mtu, path, cables=cable)
                    if value is not None:
                        out[f'{proto}_{name}_{mtu}{suffix}'] = value
                    value = ratio(rows, groups[0], proto, mtu, path, over='same-host', cables=cable)
                    if path != 'same-host' and value is not None:
                        out[f'{proto}_{name}_over_same_host_{mtu}{suffix}'] = value
            if {'on', 'off'} <= set(groups):
                out[f'{proto}_cross_host_{mtu}_sg_on_over_off'] = (
                    ratio(rows, 'on', proto, mtu, 'cross-host', cables=cables[0])
                    / ratio(rows, 'off', proto, mtu, 'cross-host', cables=cables[0]))
    if 'tcp_cross_host_9001' in out and 'tcp_cross_host_1500' in out:
        out['tcp_9001_over_1500_cross_host'] = (out['tcp_cross_host_9001']
                                                / out['tcp_cross_host_1500'])
    return out


def describe(rows, params):
    lines = ['median Mbit/s (security groups, cables, protocol, MTU)' + ''.join(f'{p:>12}' for p in PATHS)]
    for sg in params['security_groups']:
        for cable in cables_of(params):
            for proto in params['protocols']:
                for mtu in params['mtus']:
                    lines.append(f'{sg:<8} {cable:<6} {proto:<4} {mtu:5d}{"":<33}' + ''.join(
                        f'{mbps(rows, security_groups=sg, cables=cable, protocol=proto, mtu=mtu, path=p) or 0:12.0f}'
                        for p in PATHS))
    return lines


def plot(rows, params):
    figures = []
    cable = cables_of(params)[0]
    for sg in params['security_groups']:
        for proto in params['protocols']:
            fig, ax = plots.figure()
            width = 0.8 / len(params['mtus'])
            for k, mtu in enumerate(params['mtus']):
                values = [mbps(rows, security_groups=sg, cables=cable, protocol=proto, mtu=mtu, path=p) or 0
                          for p in PATHS]
                ax.bar([i + k * width for i in range(len(PATHS))], values, width, label=f'MTU {mtu}')
            ax.set_xticks([i + width * (len(params['mtus']) - 1) / 2 for i in range(len(PATHS))])
            ax.set_xticklabels(PATHS)
            ax.set(ylabel='Mbit/s (median)', title=f'{proto.upper()} throughput by path (security groups: {sg})')
            ax.legend()
            figures.append((f'{proto}-throughput{"" if sg == "default" else "-sg-" + sg}', fig))
    return figures
