"""The live part of the shuffle_sharding experiment: a customer floods its NAT gateway while another
customer opens TCP connections through its own, in a real lab, once with shuffle sharding and once
with every customer on the same Hyperplane nodes.

Two VPCs (customers), each an instance behind its NAT gateway, on their own physical hosts; the
internet host example-web answers both.  With shuffle sharding (`nodes` nodes, `shard_size` per
gateway) the victim is the first customer name whose gateway's shard shares the fewest nodes with
the flooder's (seed 002: most pairs share few or none); with every customer on the same nodes the
fleet is `shard_size` nodes, so both gateways are served by all of them.  In each lab the victim's
new connections per second alone, then `rounds` times: while the flooder sends UDP to a new
destination port with every packet (each one a new NAT entry to make and copy to the shard), and
right after the flood (a node it overran can stay overrun after it: that is measured too).  The
flood comes from one socket, so one source port: one bucket, one node of the flooder's shard.  Its
rate must exceed what that node can take (a Python loop: about 5 000-9 500 new entries/s measured on
this machine), or the node keeps up and the figure only shows the machine's two shared CPUs.  Past it,
the victim's connections that hash to the flooded node time out when it shares it (same nodes) and
do not when it does not (shuffle sharding).  The shared CPUs and Blackfoot, which carries every
customer's packets, slow the victim in both.
"""
import statistics

import yaml

from experiments import flood
from testbed.fabric import hyperplane_plan
from testbed.topology import loads

AZ = 'use1-az1'
INTERNET = '198.51.100.10'
FLOODER = 'flooder'
CANDIDATES = 64         # victim names tried for the least overlap with the flooder

# Runs in the flooder: UDP to a new destination port with every packet, at RATE per second.
UDP_FLOOD = '''import socket, sys, time
dst, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
start = time.monotonic()
sent, end = 0, start + seconds
while time.monotonic() < end:
    time.sleep(max(0.0, start + sent / rate - time.monotonic()))
    for _ in range(20):
        sent += 1
        s.sendto(b"x", (dst, 1024 + sent % 60000))
print(f"sent {sent}", flush=True)
'''


def _vpc(name, host):
    pub, priv = f'{name}-pub', f'{name}-priv'
    return dict(cidr='10.0.0.0/16', internet_gateway=True,
                subnets={pub: dict(cidr='10.0.0.0/24', az=AZ), priv: dict(cidr='10.0.1.0/24', az=AZ)},
                instances={f'{name}-1': dict(subnet=priv, ip='10.0.1.10', host=host)},
                elastic_ips={f'{name}-eip': {}},
                nat_gateways={f'{name}-nat': dict(subnet=pub, elastic_ip=f'{name}-eip')},
                route_tables={f'{name}-public': dict(subnets=[pub], routes=[_default('igw')]),
                              f'{name}-private': dict(subnets=[priv], routes=[_default(f'nat:{name}-nat')])})


def _default(target):
    return dict(destination='0.0.0.0/0', target=target)


def topology(victim, nodes, shard_size):
    doc = dict(format=1, name='shuffle-live', mode='proactive',
               fabric=dict(spines=1, azs={AZ: dict(racks={'r1': dict(hosts=2)})}),
               outside=dict(internet=dict(hosts={'example-web': dict(ip=INTERNET)})),
               hyperplane=dict(nodes=nodes, shard_size=shard_size),
               vpcs={FLOODER: _vpc(FLOODER, 'r1-h1'), victim: _vpc(victim, 'r1-h2')})
    return loads(yaml.safe_dump(doc, sort_keys=False), '<generated shuffle-live>')


def shards(topo):
    """{vpc: the nodes of its NAT gateway's shard}."""
    return {r.vpc: r.shard for r in hyperplane_plan.resources(topo) if r.kind == 'nat'}


def shared(topo, victim):
    s = shards(topo)
    return len(set(s[FLOODER]) & set(s[victim]))


def pick_victim(nodes, shard_size):
    """The first customer name whose gateway shares the fewest nodes with the flooder's."""
    names = [f'customer-{i}' for i in range(1, CANDIDATES + 1)]
    return min(names, key=lambda name: shared(topology(name, nodes, shard_size), name))


def measure(ctx, variant, topo, victim):
    p, rows = ctx.params, []
    common = dict(part='live', variant=variant, nodes=topo.hyperplane.nodes, shard_size=topo.hyperplane.shard_size,
                  shared=shared(topo, victim), victim=victim)
    with ctx.lab(topo) as lab:
        web = lab.node('example-web')
        server = flood.start(web, flood.SERVE, flood.PORT)
        try:
            lab.wait_until(lambda: f':{flood.PORT} ' in web.cmd('ss -ltn'), what='example-web to listen')
            for phase in ('quiet',) + ('flood', 'after') * p['rounds']:
                ctx.progress(f'live, {variant}: the victim {phase}')
                flooding = (flood.start(lab.node(f'{FLOODER}-1'), UDP_FLOOD, INTERNET, p['rate'], p['seconds'] + 1)
                            if phase == 'flood' else None)
                ok, failed = flood.counts(flood.finish(flood.start(lab.node(f'{victim}-1'), flood.CONNECT, INTERNET,
                                                                   flood.PORT, p['seconds'])))
                sent = int(flood.finish(flooding).split()[-1]) if flooding else 0
                rows.append(dict(common, phase=phase, per_s=ok / p['seconds'], failed=failed, flood_sent=sent))
        finally:
            server.kill()
            server.wait()
    return rows


def run(ctx, nodes, shard_size):
    victim = pick_victim(nodes, shard_size)
    return (measure(ctx, 'shuffle', topology(victim, nodes, shard_size), victim) +
            measure(ctx, 'same-nodes', topology(victim, shard_size, shard_size), victim))


def ratio(rows, variant, phase='flood'):
    """The victim's connections/s during the flood (or right after it) over alone, in one variant's lab
    (the median of the rounds)."""
    quiet = _median(rows, variant, 'quiet', 'per_s')
    return _median(rows, variant, phase, 'per_s') / quiet if quiet else float('nan')


def _median(rows, variant, phase, key):
    got = [r[key] for r in rows if r.get('part') == 'live' and (r['variant'], r['phase']) == (variant, phase)]
    return statistics.median(got) if got else float('nan')


def label(rows, variant):
    r = next(r for r in rows if r.get('part') == 'live' and r['variant'] == variant)
    return (f'{"shuffle sharding" if variant == "shuffle" else "every customer on the same nodes"}\n'
            f'{r["nodes"]} nodes, shares {r["shared"]} of {r["shard_size"]}')


def describe(rows):
    lines = []
    for variant in ('shuffle', 'same-nodes'):
        got = [r for r in rows if r.get('part') == 'live' and r['variant'] == variant]
        if not got:
            continue
        r = got[0]
        quiet, flooded, after = (_median(rows, variant, phase, 'per_s') for phase in ('quiet', 'flood', 'after'))
        failed = {ph: sum(x['failed'] for x in got if x['phase'] == ph) for ph in ('flood', 'after')}
        lines.append(f'live, {variant} ({r["nodes"]} nodes, {r["shard_size"]} per customer; the victim shares '
                     f'{r["shared"]} with the flooder): victim {quiet:.0f} connections/s alone, {flooded:.0f} '
                     f'during a flood of {_median(rows, variant, "flood", "flood_sent"):.0f} packets (x '
                     f'{ratio(rows, variant):.2f}), {after:.0f} right after it '
                     f'(x {ratio(rows, variant, "after"):.2f}); '
                     f'timed out {failed["flood"]} / {failed["after"]}; rounds: {(len(got) - 1) // 2}, medians')
    return lines
