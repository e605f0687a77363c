"""Made-up rows in the shape each experiment's run() returns, for tests that must not
start labs."""
import experiments


def latency():
    rows = []
    for mode, first in (('proactive', 3.0), ('reactive', 7.0)):
        for path, warm in (('same-host', 0.6), ('cross-host', 1.5), ('cross-rack', 2.5)):
            for i in range(4):
                rows += [dict(mode=mode, path=path, kind='first', src='a', dst='b', rtt_ms=first + i),
                         dict(mode=mode, path=path, kind='second', src='a', dst='b', rtt_ms=warm + 0.1),
                         dict(mode=mode, path=path, kind='warm', src='a', dst='b', rtt_ms=warm)]
    rows.append(dict(mode='reactive', path='cross-rack', kind='first', src='a', dst='c', rtt_ms=None))
    return rows


def throughput():
    rates = {'plain-ovs': 1000.0, 'same-host': 1100.0, 'cross-host': 700.0, 'cross-rack': 500.0}
    return [dict(security_groups='default', mtu=mtu, protocol=proto, path=path,
                 mbps=rate * (2 if mtu == 9001 else 1), lost_percent=0.0)
            for mtu in (1500, 9001) for proto in ('tcp', 'udp') for path, rate in rates.items()]


def convergence():
    return [dict(holders=k, migration=n, to='r1-h2', hosts_changed=2 + k,
                 convergence_s=0.008 + 0.001 * k, total_s=0.1, sent=None if k == 0 else 60,
                 lost=None if k == 0 else 6) for k in (0, 1, 2, 4) for n in range(2)]


def scale():
    return [dict(size=n, network=net, up_s=base + per * n, down_s=base + per * n,
                 memory_mb=n * per * 10, ping_ok=True, rtt_ms=per * n, flows_per_host=n * 10)
            for n in (16, 50) for net, base, per in (('vpclab', 1.0, 0.05), ('plain', 0.2, 0.04))]


def isolation():
    return [dict(case=c.name, kind=c.kind, victim=c.victim or '-', sent=3 * c.per,
                 delivered=3 * c.per if c.kind == 'control' else 0, drops_total=24, alerts_total=8)
            for c in experiments.get('isolation').CASES]


def flood():
    return [dict(mode='reactive', phase=phase, seconds=4, connections=n, failed=0,
                 flood_packets=sent, victim_alert=alert, drops_total=100)
            for phase, n, sent, alert in (('quiet', 200, 0, None), ('flood', 150, 90000, 1))]


def hyperplane():
    rows = [dict(part='connections', path=path, round=r, per_s=rate, failed=0)
            for r in range(2) for path, rate in (('internet-gateway', 300.0), ('nat-gateway', 200.0))]
    rows += [dict(part='tcp', path=path, mbps=rate) for path, rate in (('internet-gateway', 400.0),
                                                                      ('nat-gateway', 250.0))]
    return rows + [dict(part='node-loss', path='nat-gateway', failed_node=node, sent=600, received=600 - lost,
                        lost=lost, lost_ms=lost * 10) for node, lost in (('-', 0), ('hp2', 42))]


def shuffle_sharding():
    exact, sampled = (17.86, 53.57, 26.79, 1.79), (16.5, 54.9, 26.6, 2.0)
    rows = [dict(fleet='8x3', nodes=8, shard_size=3, overlap=j, method=method, percent=percent, fraction=None,
                 pairs=pairs)
            for method, table, pairs in (('exact', exact, None), ('sampled', sampled, 2000),
                                         ('same-nodes', (0, 0, 0, 100.0), None))
            for j, percent in enumerate(table)]
    return rows + [dict(part='live', variant=v, nodes=n, shard_size=2, shared=s, victim='customer-1', phase=phase,
                        per_s=rate, failed=failed, flood_sent=sent)
                   for v, n, s, flooded in (('shuffle', 4, 0, 60.0), ('same-nodes', 2, 2, 5.0))
                   for phase, rate, failed, sent in (('quiet', 250.0, 0, 0), ('flood', flooded, 3, 80000),
                                                     ('after', flooded * 2, 1, 0))]


def edge():
    pps = [dict(part='pps', variant=v, offered_pps=500000.0, forwarded_pps=f, cpu_us_per_packet=c)
           for v, f, c in (('blackfoot', 300000.0, 3.0), ('ring-copy', 400000.0, 2.4), ('raw-socket', 200000.0, 5.0),
                           ('blackfoot', 320000.0, 2.8), ('ring-copy', 420000.0, 2.2), ('raw-socket', 220000.0, 4.0))]
    return pps + [dict(part='tcp', variant=v, mbps=m) for v, m in (('internet-gateway', 300.0), ('cross-host', 900.0))]


SAMPLES = dict(latency=latency, throughput=throughput, convergence=convergence, scale=scale,
               isolation=isolation, flood=flood, hyperplane=hyperplane, edge=edge,
               shuffle_sharding=shuffle_sharding)


def params(name):
    module = experiments.get(name)
    p = dict(module.PARAMETERS)
    if name == 'scale':
        p['sizes'] = [16, 50]
    return p
