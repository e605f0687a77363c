"""Blackfoot's cost: packets per second through one edge loop, and TCP through the internet gateway.

Two comparisons, each inside one run so that the machine's load hits both sides alike:
- pps: the edge process (Geneve in, elastic-IP rewrite, Ethernet out to the internet link) on a
  scratch pair of veths, against two reference forwarders on the same veths, in alternating rounds
  (testbed/appliances/bench_loop.py's method): a minimal raw-socket forwarder (`send(recv())`, a
  syscall each way a frame), and the edge's own rings with nothing between them (each frame copied
  from a receive-ring slot to a transmit-ring slot), the floor of any Python loop there.  Frames
  forwarded a second against both; and frames a CPU second of the forwarder against the ring copy
  (which a sender that cannot saturate that reference does not cap).
- TCP: iperf3 from an instance to an internet host through the internet gateway (its elastic IP,
  the edge's Python loop) against instance to instance across physical hosts (OVS only), both with
  MSS 1460, the size the internet link allows, so that both move packets of one size.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

from testbed.appliances import bench_loop, processes
from testbed.appliances.packets import ETH_P_IP, build_eth, build_ipv4, ip4, mac
from testbed.appliances.scratch_netns import ScratchNetns
from testbed.appliances.tunnels import encapsulate
from testbed.bench import plots
from testbed.bench.metric import Metric

DESCRIPTION = ('pps through one Blackfoot loop vs a raw-socket forwarder and a ring copy; TCP via the internet '
               'gateway vs across hosts')
PARAMETERS = dict(repeats=1, rounds=3, seconds=2.0, size=64, tcp_seconds=3.0)
QUICK = dict(rounds=2, seconds=1.0, tcp_seconds=2.0)
METRICS = {
    'edge_pps_over_raw_socket': Metric('higher', 0.3, 'pps: one Blackfoot loop / a minimal raw-socket forwarder '
                                       '(send(recv()) a frame)'),
    'edge_pps_over_ring_copy': Metric('higher', 0.3, 'pps: one Blackfoot loop / its rings copying slot to slot'),
    'edge_pps_per_cpu_over_ring_copy': Metric('higher', 0.3, 'packets a CPU second: one Blackfoot loop / its rings '
                                              'copying slot to slot'),
    # wider: two iperf3 runs of a few seconds on two shared CPUs (0.86-1.66 in eight runs)
    'tcp_igw_over_cross_host': Metric('higher', 0.5, 'TCP through the internet gateway / instance to instance '
                                      'across hosts (MSS 1460)'),
}
TOPOLOGY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'topologies', 'gateways.yaml')
HOST_IP, EDGE_IP, PRIVATE, PUBLIC, REMOTE = '100.127.0.1', '100.127.255.1', '10.0.1.10', '203.0.113.1', '198.51.100.10'
UL_MAC, HOST_MAC = '02:aa:ed:00:00:01', '02:aa:00:00:00:01'
INET_MAC, PEER_MAC = '02:ed:00:00:00:01', '02:ed:00:00:00:02'


def bench_config(underlay, internet):
    """An edge with one VPC, one elastic IP and the internet on `internet` (edge_process's config)."""
    return dict(underlay=dict(ifname=underlay, ip=EDGE_IP, mac=UL_MAC, encapsulation='geneve',
                              next_hops={HOST_IP: HOST_MAC}),
                links=[dict(name='internet', ifname=internet, mac=INET_MAC, peer_mac=PEER_MAC)],
                routes=[[100, '10.0.1.0/24', '0.0.0.0/0', 'igw']], icmp_source='100.64.0.2',
                services_cidr='198.18.0.0/24', elastic_ips=[dict(public=PUBLIC, vni=100, private=PRIVATE)],
                vpn=[], dx=[], endpoints=[], vnis=[100])


def geneve_frame(size):
    """What a hypervisor sends the edge: Geneve, VNI 100, inner UDP from the instance to the internet."""
    payload = bytes(max(8, size - 42))
    udp = (40000).to_bytes(2, 'big') + (9).to_bytes(2, 'big') + (8 + len(payload)).to_bytes(2, 'big') + b'\0\0'
    inner = build_eth(mac('0e:00:00:00:00:01'), mac('02:00:00:00:00:0a'), ETH_P_IP,
                      build_ipv4(ip4(PRIVATE), ip4(REMOTE), 17, udp + payload))
    return encapsulate(inner, 100, ip4(HOST_IP), ip4(EDGE_IP), mac(HOST_MAC), mac(UL_MAC))


def pps_round(ns, variant, frame, seconds, config_path):
    (a0, _), (a1, _) = ns.pairs
    cmd = (bench_loop.reference_command(variant, a0, a1) if variant in bench_loop.REFERENCES
           else [sys.executable, '-m', 'testbed.appliances.edge_process', config_path])
    proc = ns.popen(*cmd, cwd=bench_loop.REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, text=True)
    try:
        row = bench_loop.measure(ns, proc, frame, seconds)
    finally:
        processes.stop(proc)
    return dict(part='pps', variant=variant, **row)


def pps(ctx):
    p, rows = ctx.params, []
    with ScratchNetns(pairs=2, tag=f'{os.getpid()}e') as ns, tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, 'edge.json')
        with open(config, 'w') as f:
            json.dump(bench_config(ns.pairs[0][0], ns.pairs[1][0]), f)
        frame = geneve_frame(p['size'])
        for r in range(p['rounds']):
            for variant in ('blackfoot', *bench_loop.REFERENCES):
                ctx.progress(f'pps round {r + 1}: {variant}')
                rows.append(pps_round(ns, variant, frame, p['seconds'], config))
    return rows


def iperf_mss(client, server, ip, seconds, mss=1460):
    srv = server.popen(['iperf3', '-s', '-1', '-p', '5202'])
    try:
        for _ in range(50):
            out = client.cmd(f'iperf3 -J --connect-timeout 3000 -c {ip} -p 5202 -t {seconds:g} -M {mss}')
            if 'Connection refused' not in out:
                break
        report = json.loads(out[out.find('{'):])
        if 'error' in report:
            raise RuntimeError(f'iperf3 {client.name} -> {ip}: {report["error"]}')
        return report['end']['sum_received']['bits_per_second'] / 1e6
    finally:
        srv.terminate()
        srv.wait()


def tcp(ctx):
    rows = []
    with ctx.lab(TOPOLOGY) as lab:
        web = lab.node('web-1')
        for path, server, ip in (('internet-gateway', 'example-web', REMOTE), ('cross-host', 'web-2', '10.0.1.11')):
            ctx.progress(f'TCP {path}')
            rows.append(dict(part='tcp', variant=path, mbps=iperf_mss(web, lab.node(server), ip,
                                                                      ctx.params['tcp_seconds'])))
    return rows


def run(ctx):
    return pps(ctx) + tcp(ctx)


def _median(rows, part, variant, key):
    got = [r[key] for r in rows if r['part'] == part and r['variant'] == variant]
    return statistics.median(got) if got else float('nan')


def _nan(value):
    return float('nan') if value is None else value


def summarize(rows, params):
    pps = [r for r in rows if r['part'] == 'pps']
    cross = _median(rows, 'tcp', 'cross-host', 'mbps')
    return {'edge_pps_over_raw_socket': _nan(bench_loop.ratio(pps, 'blackfoot', 'raw-socket')),
            'edge_pps_over_ring_copy': _nan(bench_loop.ratio(pps, 'blackfoot', 'ring-copy')),
            'edge_pps_per_cpu_over_ring_copy': _nan(bench_loop.cpu_ratio(pps, 'blackfoot', 'ring-copy')),
            'tcp_igw_over_cross_host': _median(rows, 'tcp', 'internet-gateway', 'mbps') / cross
            if cross else float('nan')}


def describe(rows, params):
    lines = ['part  variant            offered pps  forwarded pps  CPU us/packet  Mbit/s']
    for r in rows:
        lines.append(f'{r["part"]:<5} {r["variant"]:<18} {r.get("offered_pps", 0):11.0f}  '
                     f'{r.get("forwarded_pps", 0):13.0f}  {r.get("cpu_us_per_packet", 0):13.2f}  '
                     f'{r.get("mbps", 0):6.0f}')
    return lines


def plot(rows, params):
    figures = []
    for part, key, label in (('pps', 'forwarded_pps', 'packets per second'), ('tcp', 'mbps', 'TCP Mbit/s')):
        variants = sorted({r['variant'] for r in rows if r['part'] == part})
        fig, ax = plots.figure()
        ax.bar(variants, [_median(rows, part, v, key) for v in variants])
        ax.set(ylabel=label, title=f'Blackfoot: {label}')
        figures.append((part, fig))
    return figures
