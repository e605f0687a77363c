"""Blackfoot's process on an edge host: `Edge` and `EdgeHandler` on the packet loop, from a JSON file.

    python -m testbed.appliances.edge_process CONFIG.json

CONFIG is what testbed/fabric/edge_plan.py writes: the underlay interface, the outside links, the
routes, elastic IPs, VPN connections, Direct Connect VLANs and gateway endpoints.  The mapping comes
from the lab, which follows the mapping service: one JSON object per line on stdin,

    {"mapping": [[vni, private ip, host underlay ip, instance MAC], ...]}   replaces the mapping
    {"counters": true}                                                    one JSON line on stdout
    {"hyperplane_failed": [node, ...]}                                    the Hyperplane nodes lost

so the edge looks each packet's destination up in what the mapping service said last, and an
elastic IP follows a migration (the fast path's cached decisions of relayed frames, which asked the
mapping, are dropped with each new one).  Prints `ready` when its sockets are open; on SIGTERM its counters.
With `counters_file` in CONFIG it also writes its counters there as JSON every second, when asked
and when it stops (a root-only file, replaced atomically), so that `vpclab counters` in another
terminal can read them (testbed/fabric/edge_plan.py, `read_counters`).
"""
import json
import os
import select
import signal
import sys
import time

from testbed.appliances import blackfoot as bf
from testbed.appliances import blackfoot_wire as bw
from testbed.appliances import esp
from testbed.appliances.packet_loop import FRAME_COUNT, PacketLoop
from testbed.appliances.packets import ip4, mac

CONTROL_EVERY = 64      # busy loop: look at stdin after this many steps
WRITE_EVERY_S = 1.0     # how often the counters file is rewritten


def write_counters(path, counters):
    """`counters` as JSON in `path`, atomically (a private temporary file renamed over it), 0600."""
    tmp = f'{path}.{os.getpid()}.tmp'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, json.dumps(counters).encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def hyperplane_doors(config):
    """The `Doors` to the Hyperplane nodes of CONFIG's "hyperplane" section, or None."""
    hp = config.get('hyperplane')
    if not hp:
        return None
    from testbed.appliances.blackfoot_hyperplane import Doors
    from testbed.state_store.remote import RemoteStore
    return Doors({n: (ip4(ip), mac(m)) for n, (ip, m) in hp['nodes'].items()},
                 [(g, vni, ip4(ip)) for g, vni, ip in hp['nats']],
                 [(lb, vni, [ip4(ip) for ip in ips], shard) for lb, vni, ips, shard in hp['nlbs']],
                 lambda: RemoteStore(hp['store']))


def build(config, mapping):
    """(EdgeHandler, interface names) of a configuration; `mapping` is the dict the edge reads."""
    routes = bf.Routes()
    for vni, subnet, destination, target in config['routes']:
        routes.add(vni, subnet, destination, target)
    vpns = []
    for v in config['vpn']:
        to_site, to_edge = esp.sa_pair(v['topology'], v['name'], ip4(v['edge_ip']), ip4(v['site_ip']))
        vpns.append(bf.VpnConnection(v['name'], v['vni'], v['site_cidr'], esp.Tunnel(to_site, to_edge)))
    edge = bf.Edge(
        routes, mapping, ip4(config['icmp_source']),
        elastic_ips=[bf.ElasticIp(ip4(e['public']), e['vni'], ip4(e['private'])) for e in config['elastic_ips']],
        vpns=vpns,
        direct_connects=[bf.DirectConnect(d['name'], d['vni'], d['site_cidr'], d['vlan']) for d in config['dx']],
        endpoints=[bf.GatewayEndpoint(e['name'], e['vni'], ip4(e['service_address']), ip4(e['alias']))
                   for e in config['endpoints']],
        services_cidr=config['services_cidr'], hyperplane=hyperplane_doors(config))
    u = config['underlay']
    hops = {ip4(ip): mac(m) for ip, m in u['next_hops'].items()}
    underlay = bw.Underlay(u['ifname'], ip4(u['ip']), mac(u['mac']), hops.get, u['encapsulation'])
    links = [bw.OutsideLink(x['name'], x['ifname'], mac(x['mac']), mac(x['peer_mac']), x.get('vlan'))
             for x in config['links']]
    interfaces = [u['ifname']] + sorted({x['ifname'] for x in config['links']})
    relays = [ip4(ip) for ip, _ in config.get('hyperplane', {}).get('nodes', {}).values()]
    return bw.EdgeHandler(edge, underlay, links, relays), interfaces


def mapping_of(rows):
    return {(int(vni), ip4(ip)): (ip4(host_ip), mac(m)) for vni, ip, host_ip, m in rows}


class Control:
    """Lines of JSON on a file descriptor (the lab's pipe), read without blocking the loop."""

    def __init__(self, fd, mapping, report, counters_file=None, doors=None, mapping_changed=None):
        self.fd, self.mapping, self.report, self.buffer = fd, mapping, report, b''
        self.doors, self.mapping_changed = doors, mapping_changed      # the fast path's FastPath.forget
        self.counters_file, self.written = counters_file, 0.0
        os.set_blocking(fd, False)

    def write(self, now=None):
        """Writes the counters file (if there is one) when a second has passed, or now=0."""
        now = time.monotonic() if now is None else now
        if self.counters_file and (now == 0 or now - self.written >= WRITE_EVERY_S):
            self.written = now or time.monotonic()
            try:
                write_counters(self.counters_file, self.report())
            except OSError:
                pass                # the run directory went away: the lab is stopping

    def read(self):
        try:
            data = os.read(self.fd, 1 << 20)
        except BlockingIOError:
            return True
        if not data:
            return False            # the lab closed its end: stop
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b'\n')
        for line in filter(None, lines):
            self.handle(json.loads(line))
        return True

    def handle(self, message):
        if 'mapping' in message:
            fresh = mapping_of(message['mapping'])
            self.mapping.clear()            # the same dict: Edge reads it on every packet
            self.mapping.update(fresh)
            if self.mapping_changed is not None:
                self.mapping_changed()      # before the next packet: the loop steps after this returns
        if 'hyperplane_failed' in message and self.doors is not None:
            self.doors.set_failed(message['hyperplane_failed'])
        if message.get('counters'):
            self.write(0)           # first, so the file is as fresh as the answer once it is read
            print(json.dumps(self.report()), flush=True)


def run(loop, control, stop):
    poller = select.poll()
    for port in loop.ports:
        poller.register(port.sock.fileno(), select.POLLIN | select.POLLERR)
    poller.register(control.fd, select.POLLIN | select.POLLHUP)
    busy = 0
    while not stop():
        if loop.step():
            busy += 1
            if busy % CONTROL_EVERY:
                continue
            events = select.select([control.fd], [], [], 0)[0]
        else:
            events = [fd for fd, _ in poller.poll(100) if fd == control.fd]
        control.write()
        if events and not control.read():
            return


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0]) as f:
        config = json.load(f)
    mapping = {}
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    handler, interfaces = build(config, mapping)
    loop = PacketLoop.open(interfaces, handler, frame_count=config.get('frames', FRAME_COUNT))
    control = Control(sys.stdin.fileno(), mapping, loop.report, config.get('counters_file'), handler.edge.hyperplane,
                      handler.fast.forget)
    print('ready ' + ' '.join(interfaces), flush=True)
    try:
        run(loop, control, lambda: bool(stopping))
    except KeyboardInterrupt:
        pass
    print(json.dumps(loop.report()), file=sys.stderr, flush=True)
    control.write(0)
    loop.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
