"""The attack matrix: every spoofing and cross-VPC attempt the data plane can face now,
with how many of its packets reached the victim.

Each attempt sends a few packets while the victim's interface is captured.  Controls,
the same kind of packet sent legitimately, run in the same lab: they must all arrive,
which shows the capture would have seen an attack's packets had they got through.
New capabilities (security groups, network ACLs) add their attempts to CASES.
"""
from collections import namedtuple

from testbed.bench import plots
from testbed.bench.metric import Metric
from testbed.observe import journey
from testbed.observe.capture import Capture

DESCRIPTION = 'attack matrix: spoofing and cross-VPC attempts, packets that got through'
PARAMETERS = dict(repeats=1, count=5, topology='topologies/default.yaml')
QUICK = dict(count=3)
METRICS = {
    'attack_leak_fraction': Metric('lower', 0.0, 'attack packets delivered / sent (must stay 0)'),
    'control_delivery_fraction': Metric('higher', 0.0, 'control packets delivered / sent'),
}
CRAFTED = 'icmp[0] == 8 and icmp[4:2] == 0x7a7a'     # echo requests testbed.observe.craft made
ECHO_FROM = 'icmp[0] == 8 and src host %s'

# send(lab, topology, count) puts the attempt's packets on their way
Case = namedtuple('Case', 'name kind victim bpf send')


def _inst(topo, name):
    return topo.instance(name)


def spoof(src, dst, **forged):
    return lambda lab, t, n: journey.send_spoofed(lab, _inst(t, src), _inst(t, dst), count=n,
                                                  **forged)


def tunnel(victim, vpc, from_host, inner_of=None, inner=None):
    """A forged encapsulated packet for `victim` with `vpc`'s VNI, as if `from_host` (or
    the inner source's real host) sent it; inner source: an instance's or (ip, mac)."""
    def send(lab, t, n):
        src = _inst(t, inner_of) if inner_of else None
        ip, mac = (src.ip, src.mac) if src else inner
        journey.inject_tunnel(lab, _inst(t, victim), t.vpcs[vpc].vni,
                              from_host or src.host, ip, mac, count=n)
    return send


def ping(src, dst):
    return lambda lab, t, n: journey.ping(lab.node(src), _inst(t, dst).ip, count=n,
                                          interval=0.05)


CASES = [
    Case('forged source IP', 'attack', 'web-2', CRAFTED, spoof('web-1', 'web-2',
                                                               src_ip='10.0.1.99')),
    Case('forged source MAC', 'attack', 'web-2', CRAFTED,
         spoof('web-1', 'web-2', src_mac='0e:66:66:66:66:66')),
    Case('neighbour\'s IP, forged MAC', 'attack', 'web-2', CRAFTED,
         spoof('web-1', 'web-2', src_ip='10.0.2.10', src_mac='0e:66:66:66:66:67')),
    Case('other tenant\'s MAC, same IP', 'attack', 'web-2', CRAFTED, spoof('red-1', 'web-2')),
    Case('cross-VPC ping, no peering', 'attack', 'green-1', ECHO_FROM % '10.0.1.10',
         ping('red-1', 'green-1')),
    Case('tunnel: source not on sending host', 'attack', 'web-2', CRAFTED,
         tunnel('web-2', 'blue', 'r1-h2', inner_of='web-1')),
    Case('tunnel: wrong VNI', 'attack', 'web-2', CRAFTED,
         tunnel('web-2', 'red', None, inner_of='web-1')),
    Case('tunnel: unregistered source', 'attack', 'web-2', CRAFTED,
         tunnel('web-2', 'blue', 'r1-h1', inner=('10.0.1.77', '0e:77:77:77:77:77'))),
    Case('genuine packet', 'control', 'web-2', CRAFTED, spoof('web-1', 'web-2')),
    Case('peered-VPC ping', 'control', 'green-1', ECHO_FROM % '10.0.1.10',
         ping('web-1', 'green-1')),
    Case('tunnel: genuine', 'control', 'web-2', CRAFTED,
         tunnel('web-2', 'blue', None, inner_of='web-1')),
]


def run(ctx):
    p = ctx.params
    rows = []
    with ctx.lab(p['topology']) as lab:
        topo = lab.topology
        for case in CASES:
            ctx.progress(f'{case.kind}: {case.name}')
            with Capture('eth0', case.bpf, node=lab.node(case.victim)) as seen:
                case.send(lab, topo, p['count'])
            rows.append(dict(case=case.name, kind=case.kind, victim=case.victim,
                             sent=p['count'], delivered=len(seen.packets)))
        metrics = lab.api.metrics()
        rows = [dict(r, drops_total=sum(metrics['drops'].values()),
                     alerts_total=metrics['alerts']) for r in rows]
    return rows


def _fraction(rows, kind):
    sent = sum(r['sent'] for r in rows if r['kind'] == kind)
    return sum(r['delivered'] for r in rows if r['kind'] == kind) / sent if sent else float('nan')


def summarize(rows, params):
    return {'attack_leak_fraction': _fraction(rows, 'attack'),
            'control_delivery_fraction': _fraction(rows, 'control')}


def describe(rows, params):
    lines = [f'{"attempt":<40} {"kind":<8} {"victim":<8} {"sent":>5} {"delivered":>9}']
    for r in rows:
        through = '  <-- GOT THROUGH' if r['kind'] == 'attack' and r['delivered'] else ''
        lines.append(f'{r["case"]:<40} {r["kind"]:<8} {r["victim"]:<8} {r["sent"]:5d} {r["delivered"]:9d}{through}')
    return lines


def plot(rows, params):
    names = list(dict.fromkeys(r['case'] for r in rows))
    fig, ax = plots.figure(7.5, 4.8)
    for kind, color in (('attack', 'tab:red'), ('control', 'tab:green')):
        ys = [i for i, n in enumerate(names) if any(r['case'] == n and r['kind'] == kind
                                                    for r in rows)]
        fractions = [sum(r['delivered'] for r in rows if r['case'] == names[i])
                     / sum(r['sent'] for r in rows if r['case'] == names[i]) for i in ys]
        ax.barh(ys, fractions, color=color, label=kind)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names)
    ax.invert_yaxis()
    ax.set(xlim=(0, 1.05), xlabel='fraction of packets delivered to the victim',
           title='Attack matrix (controls must reach 1, attacks 0)')
    ax.legend(loc='lower right')
    return [('attack-matrix', fig)]
