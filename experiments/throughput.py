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
                  udp_rate='2G', security_groups=['default'])
QUICK = dict(repeats=2, seconds=2.0, protocols=['tcp'])   # once moved a ratio by 35 %
PATHS = ('plain-ovs', 'same-host', 'cross-host', 'cross-rack')
SG_CHOICES = ('default', 'on', 'off')    # default: whatever the lab does; on/off: issue 3
METRICS = {'%s_%s_%d' % (proto, path.replace('-', '_'), mtu): Metric(
    'higher', 0.4, '%s %s / plain OVS, MTU %d' % (proto.upper(), path, mtu))
    for proto in ('tcp', 'udp') for path in PATHS[1:] for mtu in (1500, 9001)}
METRICS['tcp_9001_over_1500_cross_host'] = Metric(
    'higher', 0.4, 'TCP across hosts, MTU 9001 / 1500 (each over plain OVS)')
METRICS.update({'%s_cross_host_%d_sg_on_over_off' % (proto, mtu): Metric(
    'higher', 0.4, '%s across hosts, MTU %d: security groups on / off (each over plain OVS)'
    % (proto.upper(), mtu)) for proto in ('tcp', 'udp') for mtu in (1500, 9001)})


def topology(mtu, sg):
    # blue-1 and blue-2 share r1-h1; blue-3 is on r1-h2, blue-4 in the other rack
    return topogen.generate('throughput-%d' % mtu, 2, 2,
                            {'blue': ['r1-h1', 'r1-h1', 'r1-h2', 'r2-h1']}, mtu=mtu,
                            security_groups=sg == 'on')


def lab_options(sg):
    if sg not in SG_CHOICES:
        raise ParamError('security_groups={}: use {}'.format(sg, ', '.join(SG_CHOICES)))
    return {} if sg == 'default' else dict(security_groups=sg == 'on')


def run(ctx):
    p = ctx.params
    rows = []
    for sg in p['security_groups']:
        options = lab_options(sg)
        for mtu in p['mtus']:
            ctx.progress('MTU %d, security groups %s: starting the lab and the plain path'
                         % (mtu, sg))
            with ctx.lab(topology(mtu, sg), **options) as lab, ctx.plain(lab, mtu=mtu) as plain:
                ends = {'plain-ovs': (plain.host(1), plain.host(2), plain.ip(2))}
                for path, dst in (('same-host', 'blue-2'), ('cross-host', 'blue-3'),
                                  ('cross-rack', 'blue-4')):
                    ends[path] = (lab.node('blue-1'), lab.node(dst),
                                  lab.topology.instance(dst).ip)
                for proto in p['protocols']:
                    for path in PATHS:
                        client, server, ip = ends[path]
                        ctx.progress('%s MTU %d %s' % (proto, mtu, path))
                        got = traffic.iperf(client, server, ip, p['seconds'], udp=proto == 'udp',
                                            udp_rate=p['udp_rate'], length=mtu - 28
                                            if proto == 'udp' else None)
                        rows.append(dict(security_groups=sg, mtu=mtu, protocol=proto, path=path,
                                         **got))
    return rows


def mbps(rows, **match):
    got = [r['mbps'] for r in rows if all(r[k] == v for k, v in match.items())]
    return statistics.median(got) if got else None


def over_plain(rows, sg, proto, mtu, path):
    base = mbps(rows, security_groups=sg, protocol=proto, mtu=mtu, path='plain-ovs')
    value = mbps(rows, security_groups=sg, protocol=proto, mtu=mtu, path=path)
    return value / base if base and value is not None else None


def summarize(rows, params):
    out = {}
    groups = params['security_groups']
    for proto in params['protocols']:
        for mtu in params['mtus']:
            for path in PATHS[1:]:
                ratio = over_plain(rows, groups[0], proto, mtu, path)
                if ratio is not None:
                    out['%s_%s_%d' % (proto, path.replace('-', '_'), mtu)] = ratio
            if {'on', 'off'} <= set(groups):
                out['%s_cross_host_%d_sg_on_over_off' % (proto, mtu)] = (
                    over_plain(rows, 'on', proto, mtu, 'cross-host')
                    / over_plain(rows, 'off', proto, mtu, 'cross-host'))
    if 'tcp_cross_host_9001' in out and 'tcp_cross_host_1500' in out:
        out['tcp_9001_over_1500_cross_host'] = (out['tcp_cross_host_9001']
                                                / out['tcp_cross_host_1500'])
    return out


def describe(rows, params):
    lines = ['median Mbit/s (security groups, protocol, MTU)' + ''.join('%12s' % p for p in PATHS)]
    for sg in params['security_groups']:
        for proto in params['protocols']:
            for mtu in params['mtus']:
                lines.append('%-8s %-4s %5d%33s' % (sg, proto, mtu, '') + ''.join(
                    '%12.0f' % (mbps(rows, security_groups=sg, protocol=proto, mtu=mtu, path=p)
                                or 0) for p in PATHS))
    return lines


def plot(rows, params):
    figures = []
    for sg in params['security_groups']:
        for proto in params['protocols']:
            fig, ax = plots.figure()
            width = 0.8 / len(params['mtus'])
            for k, mtu in enumerate(params['mtus']):
                values = [mbps(rows, security_groups=sg, protocol=proto, mtu=mtu, path=p) or 0
                          for p in PATHS]
                ax.bar([i + k * width for i in range(len(PATHS))], values, width,
                       label='MTU %d' % mtu)
            ax.set_xticks([i + width * (len(params['mtus']) - 1) / 2 for i in range(len(PATHS))])
            ax.set_xticklabels(PATHS)
            ax.set(ylabel='Mbit/s (median)', title=f'{proto.upper()} throughput by path (security groups: {sg})')
            ax.legend()
            figures.append(('{}-throughput{}'.format(proto, '' if sg == 'default' else '-sg-' + sg),
                            fig))
    return figures
