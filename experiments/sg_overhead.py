"""What stateful security groups cost: TCP throughput, ping RTT and new TCP connections per
second across two physical hosts, with security groups on (conntrack in a zone per ENI, on
both hosts) and off (the same pipeline without conntrack), in the same run.

    sudo python -m experiments.sg_overhead [SECONDS]     # a JSON summary
    sudo vpclab run sg_overhead seconds=5                 # the same through the framework
"""
import json
import platform
import statistics
import subprocess
import sys
import time
from types import SimpleNamespace

from testbed.bench import plots
from testbed.bench.metric import Metric
from testbed.lab import Lab
from testbed.observe import journey
from testbed.topology import loads

DESCRIPTION = 'throughput, RTT and new connections/s with security groups on and off'
PARAMETERS = dict(repeats=1, seconds=5.0)
QUICK = dict(seconds=2.0)
FIGURES = dict(throughput_gbps='higher', rtt_ms='lower', connections_per_s='higher')
METRICS = {f'{k}_on_over_off': Metric(better, 0.4, f'{k}, security groups on / off')
           for k, better in FIGURES.items()}
TOPOLOGY = """
format: 1
name: sg-overhead
fabric: {azs: {use1-az1: {racks: {r1: {hosts: 2}}}}}
vpcs:
  blue:
    cidr: 10.0.0.0/16
    subnets: {blue-a: {cidr: 10.0.1.0/24, az: use1-az1}}
    security_groups:
      app:
        inbound:
          - {protocol: tcp, ports: 5201, from: 10.0.0.0/16}
          - {protocol: tcp, ports: 7000, from: 10.0.0.0/16}
          - {protocol: icmp, from: 10.0.0.0/16}
    instances:
      client: {subnet: blue-a, ip: 10.0.1.10, host: r1-h1, security_groups: [app]}
      server: {subnet: blue-a, ip: 10.0.1.20, host: r1-h2, security_groups: [app]}
"""
ACCEPTOR = ("import socket; s=socket.socket(); s.setsockopt(1,2,1); s.bind(('',7000)); s.listen(512)\n"
            "while True: s.accept()[0].close()")
CONNECTOR = ("import socket,sys,time; end=time.monotonic()+float(sys.argv[2]); n=0\n"
             "while time.monotonic()<end:\n"
             "    c=socket.create_connection((sys.argv[1],7000)); c.close(); n+=1\n"
             "print(n)")


def measure(lab, seconds):
    client, server = lab.node('client'), lab.node('server')
    ip = lab.topology.instance('server').ip
    _, rtts, _ = journey.ping(client, ip, count=100, interval=0.01)
    procs = [server.popen(['iperf3', '-s', '-p', '5201']), server.popen([sys.executable, '-c', ACCEPTOR])]
    try:
        for port in (5201, 7000):
            lab.wait_until(lambda port=port: f':{port} ' in server.cmd('ss -ltn'), what=f'port {port} to listen')
        iperf = json.loads(client.cmd(f'iperf3 -c {ip} -p 5201 -t {seconds:g} -J'))
        conns = int(client.cmd('{} -c "{}" {} {:g}'.format(sys.executable, CONNECTOR.replace('"', '\\"'), ip,
                                                     seconds)).split()[-1])
    finally:
        for p in procs:
            p.terminate()
            p.wait()
    return dict(throughput_gbps=iperf['end']['sum_received']['bits_per_second'] / 1e9,
                rtt_ms=statistics.median(rtts[1:]),          # the first ping carries ARP
                connections_per_s=conns / seconds)


def run(ctx):
    """One repeat: the same topology with security groups on, then off."""
    topo = loads(TOPOLOGY, 'sg-overhead')
    rows = []
    for label, enforce in (('on', True), ('off', False)):
        ctx.progress(f'security groups {label}')
        with ctx.lab(topo, security_groups=enforce) as lab:
            rows.append(dict(security_groups=label, **measure(lab, ctx.params['seconds'])))
    return rows


def _median(rows, label, figure):
    return statistics.median(r[figure] for r in rows if r['security_groups'] == label)


def summarize(rows, params):
    return {f'{k}_on_over_off': _median(rows, 'on', k) / _median(rows, 'off', k) for k in FIGURES}


def describe(rows, params):
    return [f'{k:<18} on {_median(rows, "on", k):8.3f}  off {_median(rows, "off", k):8.3f}'
            for k in FIGURES]


def plot(rows, params):
    fig, ax = plots.figure(6, 3.5)
    ratios = summarize(rows, params)
    ax.bar(range(len(ratios)), list(ratios.values()), color='tab:blue')
    ax.axhline(1.0, color='grey', linewidth=0.8)
    ax.set_xticks(range(len(ratios)))
    ax.set_xticklabels(list(FIGURES))
    ax.set(ylabel='security groups on / off')
    return [('sg_overhead', fig)]


def main(argv=None):
    """Without the framework: one repeat, printed as JSON."""
    seconds = float((argv or sys.argv[1:] or [PARAMETERS['seconds']])[0])
    ctx = SimpleNamespace(params=dict(PARAMETERS, seconds=seconds), lab=Lab,
                          progress=lambda msg: print(msg, file=sys.stderr))
    rows = run(ctx)
    print(json.dumps(dict(
        experiment='sg_overhead', seconds=seconds, when=time.strftime('%Y-%m-%dT%H:%M:%S'),
        machine=platform.node(), ovs=subprocess.run(['ovs-vswitchd', '--version'], capture_output=True,
                                                    text=True).stdout.split('\n')[0],
        rows=rows, on_over_off=summarize(rows, ctx.params)), indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
