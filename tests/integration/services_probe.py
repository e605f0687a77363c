"""What the VPC services' integration tests share: dig and curl in an instance, a DNS flood, captures
on every NIC cable, a namespace behind an instance (a container it routes for, with NAT), and the
services meters a host's switch holds."""
import contextlib
import ipaddress
import json
import os
import subprocess
import sys

from controllers import pipeline as P
from testbed.observe.capture import Capture, tunnel_summary
from testbed.services.addresses import DNS_IP, ENI_BLOCK, METADATA_IP

MD = f'http://{METADATA_IP}/latest'
SERVICE_IPS = {DNS_IP, METADATA_IP}


def dig(node, server, *query):
    """(status, answers) of one query from `node` (dig's +short answers, one a line)."""
    out = node.cmd(f'dig +time=2 +tries=1 +nocookie @{server} {" ".join(query)}')
    status = next((line.split('status: ')[1].split(',')[0] for line in out.splitlines() if 'status: ' in line),
                  'no answer')
    short = node.cmd(f'dig +short +time=2 +tries=1 +nocookie @{server} {" ".join(query)}').split()
    return status, short


def curl(node, url, *headers, method='GET', timeout=3):
    """(HTTP status, body) of one request from `node`; status '000' when nothing came back."""
    argv = ['curl', '-s', '-m', str(timeout), '-X', method, '-w', '\n%{http_code}', url]
    for h in headers:
        argv[1:1] = ['-H', h]
    out = node.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).communicate(
        timeout=timeout + 5)[0]
    body, _, status = out.rpartition('\n')
    return status.strip(), body


def token(node, ttl=60):
    return curl(node, f'{MD}/api/token', f'X-aws-ec2-metadata-token-ttl-seconds: {ttl}', method='PUT')


def _is_service(ip):
    return ip in SERVICE_IPS or ipaddress.IPv4Address(ip) in ENI_BLOCK


def service_packets(packets):
    """Captured packets with a service address (169.254.169.253/.254, 100.126.0.0/16) as outer or
    inner source or destination."""
    from scapy.layers.inet import IP
    found = []
    for p in packets:
        ips = [p[IP].src, p[IP].dst] if p.haslayer(IP) else []
        tun = tunnel_summary(p)
        ips += [tun[3], tun[4]] if tun else []
        if any(ip and _is_service(str(ip)) for ip in ips):
            found.append(p)
    return found


@contextlib.contextmanager
def nic_captures(lab):
    """Captures on every physical host's NIC cable (the ul0 side), all traffic."""
    with contextlib.ExitStack() as stack:
        caps = [stack.enter_context(Capture(lab.nic(h))) for h in lab.topology.hosts]
        yield caps


@contextlib.contextmanager
def behind(node, subnet='192.168.50'):
    """A namespace (vls_c<pid>) behind instance `node`, routed through it with NAT, as a container
    on the instance would be; yields a function that runs a command in it."""
    ns = f'vls_c{os.getpid() % 10 ** 7}'
    subprocess.run(['ip', 'netns', 'add', ns], check=True)
    try:
        subprocess.run(['ip', 'netns', 'exec', ns, 'ip', 'link', 'add', 'ceth0', 'type', 'veth', 'peer', 'name',
                        'veth9', 'netns', str(node.pid)], check=True)
        out = node.cmd(f'ip addr add {subnet}.1/24 dev veth9 && ip link set veth9 up && '
                       'sysctl -qw net.ipv4.ip_forward=1 && '
                       'iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE && echo behind')
        assert 'behind' in out, out
        for cmd in ('ip link set lo up', 'ip link set ceth0 up', f'ip addr add {subnet}.2/24 dev ceth0',
                    f'ip route add default via {subnet}.1'):
            subprocess.run(['ip', 'netns', 'exec', ns, *cmd.split()], check=True)

        def run(cmd):
            return subprocess.run(['ip', 'netns', 'exec', ns, 'sh', '-c', cmd], capture_output=True, text=True,
                                  timeout=30).stdout
        yield run
    finally:
        node.cmd('iptables -t nat -F POSTROUTING; sysctl -qw net.ipv4.ip_forward=0; ip link del veth9')
        subprocess.run(['ip', 'netns', 'del', ns], capture_output=True)


# Runs in an instance: says "flooding", then sends up to COUNT DNS queries (A, ip-10-0-1-11.ec2.internal)
# to SERVER for at most SECONDS, RATE a second (0: as fast as the socket takes them), reading answers as
# they come; then reads the last answers until none came for a second.  Prints {"sent", "answered",
# "seconds"} (seconds: the sending) as JSON.
FLOOD = r'''import json, select, socket, struct, sys, time
server, count, seconds, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
name = b''.join(bytes([len(p)]) + p for p in b'ip-10-0-1-11.ec2.internal'.split(b'.')) + b'\0\0\x01\0\x01'
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((server, 53))
s.setblocking(False)

def drain():
    n = 0
    while True:
        try:
            s.recv(2048)
        except BlockingIOError:
            return n
        n += 1

print('flooding', flush=True)
sent = answered = 0
start = time.monotonic()
while sent < count and time.monotonic() - start < seconds:
    if rate and sent >= rate * (time.monotonic() - start):
        answered += drain()
        continue
    try:
        s.send(struct.pack('!6H', sent & 0xffff, 0x0100, 1, 0, 0, 0) + name)
        sent += 1
    except BlockingIOError:
        pass
    answered += drain()
took = time.monotonic() - start
while select.select([s], [], [], 1)[0]:
    answered += drain()
print(json.dumps(dict(sent=sent, answered=answered, seconds=took)))
'''


def flood(node, server, count=10 ** 9, seconds=60, rate=0):
    """FLOOD in `node`, once it has begun: a Popen for flooded()."""
    proc = node.popen([sys.executable, '-c', FLOOD, server, str(count), str(seconds), str(rate)],
                      stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == 'flooding\n', proc.communicate()
    return proc


def flooded(proc):
    """What a flood() sent and got back: {sent, answered, seconds}."""
    return json.loads(proc.communicate(timeout=120)[0])


def services_meters(lab, host):
    """The ENIs' services meters on `host`'s bridge, as OVS holds them."""
    out = subprocess.run(['ovs-ofctl', '-O', 'OpenFlow13', 'dump-meters', lab.bridge(host)], capture_output=True,
                         text=True, check=True).stdout
    ids = [int(w.split('=')[1]) for w in out.split() if w.startswith('meter=')]
    return {m for m in ids if P.is_services_meter(m)}
