"""The attack matrix: every spoofing and cross-VPC attempt the data plane can face now,
with how many of its packets reached the victim.

Each attempt sends a few packets while the victim's interface is captured.  Controls,
the same kind of packet sent legitimately, run in the same lab: they must all arrive,
which shows the capture would have seen an attack's packets had they got through.
New capabilities (security groups, network ACLs) add their attempts to CASES.

Issue 14's attacks: (1) the lab host's own stack (ARP, IPv4 and IPv6 at the host's addresses;
"delivered" counts the host's answers at the attacker), on topologies/default.yaml; on
topologies/isolation.yaml, (2) misdelivery between two peered spokes that share addresses,
(3) another tenant's new connections while one floods, (4) VLAN-tagged frames and fragments
under a network ACL that denies another port.
"""
import sys
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

# send(lab, topology, count) puts the attempt's packets on their way; each sends `per` packets per count
# (a fragmented datagram: 3), in a lab of `topology`
Case = namedtuple('Case', 'name kind victim bpf send topology per', defaults=(None, 1))
ISOLATION = 'topologies/isolation.yaml'
ROUTER_MAC = '0e:00:00:00:00:01'
# a single line (a Mininet node's shell runs one line per command): scapy frames from an instance
SCAPY = ('from scapy.all import *; import sys; '
         'sendp({frame}, iface="eth0", count=int(sys.argv[1]), inter=0.05, verbose=0)')
TAGGED = SCAPY.format(frame='Ether(src=sys.argv[2], dst=sys.argv[5]) / Dot1Q(vlan=7) / IP(src=sys.argv[3], '
                            'dst=sys.argv[4]) / ICMP(id=0x7a7a) / b"vpclab-crafted"')
HOST_ARP = SCAPY.format(frame='Ether(src=sys.argv[2], dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=sys.argv[2], '
                              'psrc=sys.argv[3], pdst=sys.argv[4])')
HOST_IP = SCAPY.format(frame='Ether(src=sys.argv[2], dst=sys.argv[5]) / IP(src=sys.argv[3], dst=sys.argv[4]) / ICMP()')
HOST_IPV6 = SCAPY.format(frame='Ether(src=sys.argv[2], dst="33:33:00:00:00:01") / IPv6(src="fe80::1", dst="ff02::1") '
                               '/ ICMPv6EchoRequest()')
UNDERLAY_IP = '100.127.0.1'


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


def ping(src, dst, ip=None):
    return lambda lab, t, n: journey.ping(lab.node(src), ip or _inst(t, dst).ip, count=n,
                                          interval=0.05)


def scapy(src, script, dst_ip, dst_mac=ROUTER_MAC):
    """A scapy one-liner run in instance `src` with (count, its MAC, its IP, dst_ip, dst_mac); dst_mac
    'cable' is the MAC of the instance cable's root-namespace end (the host's own interface)."""
    def send(lab, t, n):
        s = _inst(t, src)
        mac = dst_mac
        if mac == 'cable':
            with open(f'/sys/class/net/{lab.network.port_name(src)}/address') as f:
                mac = f.read().strip()
        ip = _inst(t, dst_ip).ip if dst_ip in {i.name for i in t.instances()} else dst_ip
        lab.node(src).cmd(f"{sys.executable} -c '{script}' {n} {s.mac} {s.ip} {ip} {mac}")
    return send


def fragmented(src, dst, port):
    return lambda lab, t, n: lab.node(src).cmd(
        f'{sys.executable} -m testbed.observe.craft fragments --iface eth0 --count {n} --src-mac {_inst(t, src).mac} '
        f'--dst-mac {ROUTER_MAC} --src-ip {_inst(t, src).ip} --dst-ip {_inst(t, dst).ip} --dport {port}')


def connections_during_flood(lab, t, n):
    """b-1's new connections to b-2 while a-1 floods (experiments/flood.py); returns how many succeeded."""
    from experiments import flood
    server = flood.serve(lab, 'b-2')
    try:
        attack = flood.flood(lab, 'a-1', 'a-2', 4)
        ok = sum('connected' in lab.node('b-1').cmd(
            f'{sys.executable} -c "import socket; socket.create_connection((\'{_inst(t, "b-2").ip}\', {flood.PORT}), '
            f'timeout=3).close(); print(\'connected\')"') for _ in range(n))
        flood.finish(attack)
        return ok
    finally:
        server.terminate()
        server.wait()


FRAGMENTS = 'src host 10.0.1.10 and ip[6:2] & 0x3fff != 0'


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
    # 1: the lab host's own stack; the victim is the attacker, "delivered" the host's answers
    Case('host stack: ARP for the underlay address', 'attack', 'web-1', 'arp[6:2] == 2',
         scapy('web-1', HOST_ARP, UNDERLAY_IP)),
    Case('host stack: IPv4 to the host\'s cable', 'attack', 'web-1', 'icmp[0] == 0',
         scapy('web-1', HOST_IP, UNDERLAY_IP, 'cable')),
    Case('host stack: IPv6 all-nodes ping', 'attack', 'web-1', 'icmp6 and ip6[40] == 129',
         scapy('web-1', HOST_IPV6, 'ff02::1')),
    # 2: misdelivery between peered spokes that share 10.1.0.10
    Case('peering: the spoke the route does not name', 'attack', 'b-1', ECHO_FROM % '10.0.1.10',
         ping('hub-1', None, '10.1.0.10'), ISOLATION),
    Case('peering: the spoke the route names', 'control', 'a-1', ECHO_FROM % '10.0.1.10',
         ping('hub-1', None, '10.1.0.10'), ISOLATION),
    # 4: VLAN-tagged frames, fragments under an ACL that denies udp 6000 into a-low
    Case('VLAN-tagged frame, own addresses', 'attack', 'a-2', 'vlan or icmp[4:2] == 0x7a7a',
         scapy('a-1', TAGGED, 'a-2'), ISOLATION),
    Case('fragments to a port the ACL denies', 'attack', 'a-1', FRAGMENTS, fragmented('hub-1', 'a-1', 6000),
         ISOLATION, 3),
    Case('fragments to a port the ACL allows', 'control', 'a-1', FRAGMENTS, fragmented('hub-1', 'a-1', 5000),
         ISOLATION, 3),
    # 3: counted in connections, not packets (victim None: no capture)
    Case('another tenant\'s connections during a flood', 'control', None, None, connections_during_flood,
         ISOLATION),
]


def run(ctx):
    p = ctx.params
    rows = []
    for path in dict.fromkeys(c.topology or p['topology'] for c in CASES):
        cases, lab_rows = [c for c in CASES if (c.topology or p['topology']) == path], []
        with ctx.lab(path) as lab:
            topo = lab.topology
            for case in cases:
                ctx.progress(f'{case.kind}: {case.name}')
                if case.victim is None:
                    delivered = case.send(lab, topo, p['count'])
                else:
                    with Capture('eth0', case.bpf, node=lab.node(case.victim)) as seen:
                        case.send(lab, topo, p['count'])
                    delivered = len(seen.packets)
                lab_rows.append(dict(case=case.name, kind=case.kind, victim=case.victim or '-',
                                     sent=p['count'] * case.per, delivered=delivered))
            metrics = lab.api.metrics()
        rows += [dict(r, drops_total=sum(metrics['drops'].values()), alerts_total=metrics['alerts'])
                 for r in lab_rows]
    return rows


def _fraction(rows, kind):
    sent = sum(r['sent'] for r in rows if r['kind'] == kind)
    return sum(r['delivered'] for r in rows if r['kind'] == kind) / sent if sent else float('nan')


def summarize(rows, params):
    return {'attack_leak_fraction': _fraction(rows, 'attack'),
            'control_delivery_fraction': _fraction(rows, 'control')}


def describe(rows, params):
    lines = [f'{"attempt":<46} {"kind":<8} {"victim":<8} {"sent":>5} {"delivered":>9}']
    for r in rows:
        through = '  <-- GOT THROUGH' if r['kind'] == 'attack' and r['delivered'] else ''
        lines.append(f'{r["case"]:<46} {r["kind"]:<8} {r["victim"]:<8} {r["sent"]:5d} {r["delivered"]:9d}{through}')
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
