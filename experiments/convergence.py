"""Mapping convergence: migrate an instance while a peer pings it; packets lost, and the
time until every cache holding the entry is right, against the number of hosts holding it.

One lab holds a VPC per holder count k: its target instance on the first host, and k
peers on k other hosts, whose caches hold the target.  The target moves between the
first two hosts and back.  The same-run baseline is the migration of a target no other
host holds (k = 0): only the old and the new host change.
"""
import signal
import statistics
import subprocess
import time

from testbed.bench import plots, topogen
from testbed.bench.metric import Metric
from testbed.observe import journey

DESCRIPTION = 'migrate under traffic: loss and time until every cache is right, vs hosts holding it'
PARAMETERS = dict(repeats=2, holders=[0, 1, 2, 4], migrations=3, interval_ms=10,
                  mode='proactive')
QUICK = dict(repeats=1, holders=[0, 2], migrations=2)
METRICS = {
    'convergence_most_over_none': Metric(
        'lower', 1.0, 'time until every cache is right: most holders / none'),
    'outage_over_convergence': Metric(
        'lower', 1.0, 'ping outage (lost x interval) / convergence time, most holders'),
}
SETTLE_S = 0.3      # traffic before and after each migration


def topology(p):
    most = max(p['holders'])
    per_rack = (2 + most + 1) // 2
    hosts = topogen.host_names(2, per_rack)
    vpcs = {f'k{k}': [hosts[0]] + hosts[2:2 + k] for k in p['holders']}
    return topogen.generate('convergence', 2, per_rack, vpcs, mode=p['mode']), hosts[:2]


def migrate_under_ping(lab, target, peer, dest, interval_ms):
    pinger = None
    if peer is not None:
        pinger = lab.node(peer).popen(['ping', '-n', '-i', '%g' % (interval_ms / 1000.0),
                                       lab.topology.instance(target).ip],
                                      stdout=subprocess.PIPE, text=True)
        time.sleep(SETTLE_S)
    record = lab.migrate(target, dest)
    sent = received = None
    if pinger is not None:
        time.sleep(SETTLE_S)
        pinger.send_signal(signal.SIGINT)     # ping prints its totals on SIGINT
        out = pinger.communicate(timeout=10)[0]
        sent, received = journey.ping_totals(out)
    return record, sent, received


def run(ctx):
    p = ctx.params
    topo, (first, second) = topology(p)
    rows = []
    with ctx.lab(topo) as lab:
        for k in p['holders']:
            target = f'k{k}-1'
            peer = f'k{k}-2' if k else None
            for n in range(p['migrations']):
                dest = second if lab.host_of(target) == first else first
                ctx.progress(f'k={k}: migration {n + 1} of {p["migrations"]} to {dest}')
                record, sent, received = migrate_under_ping(lab, target, peer, dest,
                                                            p['interval_ms'])
                rows.append(dict(holders=k, migration=n, to=dest,
                                 hosts_changed=len(record.get('hosts', [])),
                                 convergence_s=record['seconds'],
                                 total_s=record['total_seconds'], sent=sent,
                                 lost=None if sent is None else sent - received))
    return rows


def _median(rows, key, holders):
    got = [r[key] for r in rows if r['holders'] == holders and r[key] is not None]
    return statistics.median(got) if got else float('nan')


def summarize(rows, params):
    most, least = max(params['holders']), min(params['holders'])
    out = {'convergence_most_over_none': _median(rows, 'convergence_s', most)
           / _median(rows, 'convergence_s', least)}
    if most:
        out['outage_over_convergence'] = (_median(rows, 'lost', most) * params['interval_ms']
                                          / 1000.0 / _median(rows, 'convergence_s', most))
    return out


def describe(rows, params):
    lines = ['holders  caches changed  convergence (ms, median)  lost packets (median)']
    for k in params['holders']:
        lost = _median(rows, 'lost', k) if k else '-'
        lines.append(f'{k:7d}  {_median(rows, "hosts_changed", k)!s:>14}  '
                     f'{_median(rows, "convergence_s", k) * 1000:24.1f}  {lost!s:>21}')
    return lines


def plot(rows, params):
    holders = params['holders']
    fig, ax = plots.figure()
    ax.plot(holders, [_median(rows, 'convergence_s', k) * 1000 for k in holders], 'o-',
            label='median')
    ax.scatter([r['holders'] for r in rows], [r['convergence_s'] * 1000 for r in rows],
               s=10, alpha=0.5, label='each migration')
    ax.set(xlabel='hosts holding the entry', ylabel='time until every cache is right (ms)',
           title='Migration convergence ({} mode)'.format(params['mode']))
    ax.legend()
    fig2, ax2 = plots.figure()
    lossy = [k for k in holders if k]
    ax2.plot(lossy, [_median(rows, 'lost', k) for k in lossy], 'o-')
    ax2.set(xlabel='hosts holding the entry', ylabel='packets lost (median)',
            title='Ping every {:g} ms through a migration'.format(params['interval_ms']))
    return [('convergence', fig), ('loss', fig2)]
