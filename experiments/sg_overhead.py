"""What stateful security groups cost: TCP throughput, ping RTT and new TCP connections per
second across two physical hosts, with security groups on (conntrack in a zone per ENI, on
both hosts) and off (the same pipeline without conntrack), in the same run.

    sudo flock /tmp/vpclab-dev.lock python -m experiments.sg_overhead [SECONDS]

Self-contained for now (prints a JSON summary); the experiments framework can fold it in.
"""
import json
import platform
import statistics
import subprocess
import sys
import time

from testbed import journey
from testbed.lab import Lab
from testbed.topology import loads

DESCRIPTION = 'throughput, RTT and new connections/s with security groups on and off'
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
            lab.wait_until(lambda: ':%d ' % port in server.cmd('ss -ltn'), what='port %d to listen' % port)
        iperf = json.loads(client.cmd('iperf3 -c %s -p 5201 -t %g -J' % (ip, seconds)))
        conns = int(client.cmd('%s -c "%s" %s %g' % (sys.executable, CONNECTOR.replace('"', '\\"'), ip,
                                                     seconds)).split()[-1])
    finally:
        for p in procs:
            p.terminate()
            p.wait()
    return dict(throughput_gbps=iperf['end']['sum_received']['bits_per_second'] / 1e9,
                rtt_ms=statistics.median(rtts[1:]),          # the first ping carries ARP
                connections_per_s=conns / seconds)


def main(argv=None):
    seconds = float((argv or sys.argv[1:] or [5])[0])
    topo = loads(TOPOLOGY, 'sg-overhead')
    results = {}
    for label, enforce in (('on', True), ('off', False)):
        with Lab(topo, security_groups=enforce) as lab:
            results[label] = measure(lab, seconds)
    ratio = {k: results['on'][k] / results['off'][k] for k in results['on']}
    print(json.dumps(dict(
        experiment='sg_overhead', seconds=seconds, when=time.strftime('%Y-%m-%dT%H:%M:%S'),
        machine=platform.node(), ovs=subprocess.run(['ovs-vswitchd', '--version'], capture_output=True,
                                                    text=True).stdout.split('\n')[0],
        security_groups_on=results['on'], security_groups_off=results['off'],
        on_over_off=ratio), indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
