"""One tenant floods, another opens new connections, in the same run (issue 14 item 3).

topologies/isolation.yaml: a-1 (tenant alice) and b-1 (tenant bob) share a physical host and an
address.  b-1 opens TCP connections to b-2 one after the other for `seconds`, first alone, then
while a-1 floods from the same host: new UDP 5-tuples to a-2 (each a new conntrack entry and a
flow-log record), packets to addresses spoke-a does not have (reactive misses) and spoofed packets
(alert samples).  The figure is b-1's connections per second during the flood over without it; a
flood that stops another tenant's new connections shows as a ratio far below 1 (the two CPUs of
this machine are shared, so some slow-down is the datapath's, not a lack of isolation).  b-1's
one spoofed packet during the flood must still raise its alert.
"""
import subprocess
import sys

from testbed.bench import plots
from testbed.bench.metric import Metric
from testbed.errors import LabError

DESCRIPTION = "a tenant's flood against another's new-connection rate, same run (ratio)"
PARAMETERS = dict(repeats=1, seconds=6, rate=10000, modes=['reactive'], topology='topologies/isolation.yaml')
QUICK = dict(seconds=4)
METRICS = {
    'victim_connections_flood_over_quiet': Metric('higher', 0.5,
                                                  "victim's new connections/s during another tenant's flood / alone"),
    'victim_alert_seen_during_flood': Metric('higher', 0.0, "the victim's spoofed packet raised its alert (1 = yes)"),
}
PORT = 8080

# Runs in an instance: counts TCP connections opened (and closed) to HOST:PORT for SECONDS.
CONNECT = '''import socket, sys, time
host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ok = failed = 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        socket.create_connection((host, port), timeout=1).close()
        ok += 1
    except OSError:
        failed += 1
print(f"ok {ok} failed {failed}", flush=True)
'''
# Runs in an instance: accepts and closes connections on PORT.
SERVE = '''import socket
s = socket.socket(); s.setsockopt(1, 2, 1); s.bind(("", int(__import__("sys").argv[1]))); s.listen(128)
while True:
    s.accept()[0].close()
'''
# Runs in an instance: raw frames at RATE per second for SECONDS from MAC, each a new 5-tuple (the
# destination port counts up): to DST (a real peer), to addresses of NET that nobody has, and from a
# forged source.  Prints how many it sent.  The rate is capped: this machine's two CPUs are shared,
# and a flood that only starves the datapath of CPU says nothing about isolation.
FLOOD = r'''import ipaddress, socket, struct, sys, time
iface, mac, src, dst, net, seconds = sys.argv[1:7]
router = bytes.fromhex(sys.argv[7].replace(":", ""))
rate = float(sys.argv[8])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((iface, 0))
def csum(b):
    t = sum(struct.unpack("!10H", b)); t = (t >> 16) + (t & 0xffff); return ~(t + (t >> 16)) & 0xffff
def frame(a, b, dport):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, socket.inet_aton(a), socket.inet_aton(b))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return router + bytes.fromhex(mac.replace(":", "")) + b"\x08\x00" + ip + struct.pack("!HHHH", 40000, dport, 8, 0)
hosts = list(ipaddress.ip_network(net).hosts())[4000:]
start = time.monotonic()
sent, n, end = 0, 0, start + float(seconds)
while time.monotonic() < end:
    time.sleep(max(0.0, start + sent / rate - time.monotonic()))
    for _ in range(50):
        n += 1
        port = 1 + n % 65000
        s.send(frame(src, dst, port))
        s.send(frame(src, str(hosts[n % len(hosts)]), port))
        s.send(frame("10.1.99.99", dst, port))
        sent += 3
print(f"sent {sent}", flush=True)
'''


def start(node, script, *args):
    return node.popen([sys.executable, '-c', script, *map(str, args)], stdout=subprocess.PIPE,
                      stderr=subprocess.STDOUT, text=True)


def finish(proc, timeout=30):
    out, _ = proc.communicate(timeout=timeout)
    return out.strip()


def counts(line):
    """'ok 12 failed 0' -> (12, 0)."""
    words = line.split()
    return int(words[words.index('ok') + 1]), int(words[words.index('failed') + 1])


def serve(lab, name):
    node = lab.node(name)
    proc = start(node, SERVE, PORT)
    lab.wait_until(lambda: f':{PORT} ' in node.cmd('ss -ltn'), what=f'{name} to listen on {PORT}')
    return proc


def flood(lab, attacker, target, seconds, rate=PARAMETERS['rate']):
    """`attacker`'s flood of `seconds` at `rate` packets/s (a Popen: `finish` it)."""
    a, t = lab.topology.instance(attacker), lab.topology.instance(target)
    net = lab.topology.vpcs[a.vpc].cidr
    router = '0e:00:00:00:00:01'
    return start(lab.node(attacker), FLOOD, 'eth0', a.mac, a.ip, t.ip, net, seconds, router, rate)


def connect(lab, client, server, seconds):
    return start(lab.node(client), CONNECT, lab.topology.instance(server).ip, PORT, seconds)


def spoof_alerted(lab, victim, forged_ip, seconds=1.5):
    """Did spoofed packets of `victim`, one every 50 ms for `seconds` from now (call it while a
    flood runs: every packet is sent during it), raise an alert naming their forged source?  A
    spread rather than one burst: the samples share the switch's packet-in queue with the
    flooder's, and a burst can meet a full queue on a loaded machine however fair the meters are."""
    v = lab.topology.instance(victim)
    lab.node(victim).cmd(f'{sys.executable} -m testbed.observe.craft ip --iface eth0 --count {int(seconds / 0.05)} '
                         f'--src-mac {v.mac} --dst-mac 0e:00:00:00:00:01 --src-ip {forged_ip} --dst-ip 10.1.200.10')
    try:
        lab.wait_until(lambda: any(forged_ip in a['source'] for a in lab.api.alerts()), timeout=15,
                       what='the alert')
        return True
    except LabError:
        return False


def run(ctx):
    p = ctx.params
    rows = []
    for mode in p['modes']:
        with ctx.lab(p['topology'], mode=mode) as lab:
            server = serve(lab, 'b-2')
            try:
                finish(connect(lab, 'b-1', 'b-2', 1))                       # warm: b-2 cached, ARP known
                ctx.progress(f'{mode}: b-1 alone for {p["seconds"]} s')
                quiet = counts(finish(connect(lab, 'b-1', 'b-2', p['seconds'])))
                ctx.progress(f'{mode}: b-1 while a-1 floods')
                attack = flood(lab, 'a-1', 'a-2', p['seconds'] + 2, p['rate'])
                busy = counts(finish(connect(lab, 'b-1', 'b-2', p['seconds'])))
                alerted = spoof_alerted(lab, 'b-1', '10.1.77.77')
                sent = int(finish(attack).split()[-1])
                metrics = lab.api.metrics()
            finally:
                server.terminate()
                server.wait()
            for phase, (ok, failed) in (('quiet', quiet), ('flood', busy)):
                rows.append(dict(mode=mode, phase=phase, seconds=p['seconds'], connections=ok, failed=failed,
                                 flood_packets=sent if phase == 'flood' else 0,
                                 victim_alert=int(alerted) if phase == 'flood' else None,
                                 drops_total=sum(metrics['drops'].values())))
    return rows


def _rate(rows, phase):
    picked = [r for r in rows if r['phase'] == phase]
    return sum(r['connections'] for r in picked) / sum(r['seconds'] for r in picked) if picked else float('nan')


def summarize(rows, params):
    quiet = _rate(rows, 'quiet')
    alerts = [r['victim_alert'] for r in rows if r['phase'] == 'flood']
    return {'victim_connections_flood_over_quiet': _rate(rows, 'flood') / quiet if quiet else float('nan'),
            'victim_alert_seen_during_flood': sum(alerts) / len(alerts) if alerts else float('nan')}


def describe(rows, params):
    lines = [f'{"mode":<10} {"phase":<6} {"connections/s":>13} {"failed":>7} {"flood packets":>13}']
    for r in rows:
        lines.append(f'{r["mode"]:<10} {r["phase"]:<6} {r["connections"] / r["seconds"]:13.1f} {r["failed"]:7d} '
                     f'{r["flood_packets"]:13d}')
    return lines


def plot(rows, params):
    fig, ax = plots.figure(6, 3.5)
    modes = list(dict.fromkeys(r['mode'] for r in rows))
    for k, phase in enumerate(('quiet', 'flood')):
        ax.bar([i + 0.4 * k for i in range(len(modes))],
               [_rate([r for r in rows if r['mode'] == m], phase) for m in modes], 0.4, label=phase)
    ax.set_xticks([i + 0.2 for i in range(len(modes))])
    ax.set_xticklabels(modes)
    ax.set(ylabel="victim's new connections / s", title="Another tenant's flood, same run")
    ax.legend()
    return [('flood', fig)]
