"""A Hyperplane node on the wire: the packet loop's handler that turns underlay frames into the pure
core's decisions (nat.py, nlb.py, privatelink.py) and the verdicts back into frames.

What arrives on the node's one interface (its underlay cable):
- Geneve/VXLAN from a hypervisor (the VPC router sent an instance's packet here) or from Blackfoot
  (a reply from the internet to a NAT gateway or an internet-facing NLB).  By (VNI, inner
  destination): a NAT gateway's address -> `translate_in`; an NLB's address -> `forward` on a
  listener port, else a reply to one of this node's interface endpoints or health checks; an
  interface endpoint's address -> `to_provider`; anything else is a target's reply to a client
  (`reverse`) or, failing that, an instance's packet for its subnet's NAT gateway (`translate_out`).
- UDP to REPLICATION_PORT at the node's own address: flow entries of the other nodes of a shard.

Where verdicts go: `Forward` always to Blackfoot (`Edge.relay`), in the VNI of the VPC the packet now
belongs to (an endpoint's provider side: the provider's); nodes hold no mappings.  `Reply` (a RST)
too, in the frame's VNI: the sender's host takes tunnel packets only from registered senders' hosts
and from the edge.
"""
import json
import struct
from collections import Counter

from testbed.appliances import packets as p
from testbed.appliances.blackfoot_fast import VPC_ROUTER_MAC
from testbed.appliances.hyperplane import sharding
from testbed.appliances.hyperplane.flows import TCP_ACK, TCP_RST, TCP_SYN, TRACE_MARK, Drop, Forward, Reply
from testbed.appliances.hyperplane.nat import NatNode
from testbed.appliances.hyperplane.nlb import HealthChecks, Listener, Nlb, Target
from testbed.appliances.hyperplane.privatelink import InterfaceEndpoint
from testbed.appliances.tunnels import decapsulate, encapsulate
from testbed.topology.edge_model import EndpointService

REPLICATION_PORT = 6100         # UDP on the underlay, between the nodes of a shard
MAX_DATAGRAM = 1400             # replication records per datagram until it would pass this
PROBE_PORTS = range(33000, 33064)   # health checks' source ports on the NLB's address
PROBE_TIMEOUT_S = 1.0


class Peer:
    def __init__(self, ip, mac):
        self.ip, self.mac = p.ip4(ip), p.mac(mac)


def _nlb(spec, clock, health=True):
    listeners = [Listener(port, tuple(Target(t, p.ip4(spec['target_ips'][t])) for t in targets), target_port)
                 for _, port, target_port, targets in spec['listeners']]
    hc = spec.get('health_check')
    checks = ({lst.port: HealthChecks(lst.targets, hc['interval_s'], hc['healthy'], hc['unhealthy'])
               for lst in listeners} if hc and health else None)
    return Nlb(spec['name'], [p.ip4(a) for a in spec['ips']], listeners, clock, checks)


class NodeHandler:
    """handler(frame, ifname, vlan) for `PacketLoop`, plus `idle(now)` for the loop's idle time."""

    def __init__(self, config, store, clock):
        self.name, self.clock, self.store = config['name'], clock, store
        u = config['underlay']
        self.ifname, self.ip, self.mac = u['ifname'], p.ip4(u['ip']), p.mac(u['mac'])
        self.encapsulation = u['encapsulation']
        self.edge = Peer(*config['edge'])
        self.peers = {n: Peer(ip, m) for n, (ip, m) in config['peers'].items()}
        self.own = Counter()
        self.nats, self.nlbs, self.endpoints = {}, {}, {}    # (vni, address) -> object
        self.consumers = {}             # (provider vni, NLB address) -> [(InterfaceEndpoint, consumer vni)]
        self.live = set(config['peers']) | {self.name}     # the store's members (node_process updates it)
        self.by_id = {}                 # resource id -> (its NatNode or None, its shard)
        self.replicas = {}              # replication key -> (NatNode or Nlb: export/import_, its shard)
        self.nat_by_source = []         # (vni, subnet net, mask, NatNode) for translate_out
        self.nlbs_of_vni = {}           # vni -> [Nlb] for reverse
        self.checks = []                # (Nlb, resource id, shard, health-check port or None, vni)
        self.probes = {}                # (target ip, port, probe port) -> (checks, target, deadline)
        self.probe_count = 0
        self.target_ends = set()        # (vni, target ip, target port) of every NLB listener here
        self.outbox = {}                # peer name -> [records not sent yet]
        for r in config['resources']:
            self._build(r)

    def _build(self, r):
        vni = r['vni']
        if r['kind'] == 'nat':
            nat = self._nat(r['id'], r['ips'][0], r['shard'])
            self.nats[(vni, p.ip4(r['ips'][0]))] = nat
            for cidr in r['sources']:
                net, mask = _net(cidr)
                self.nat_by_source.append((vni, net, mask, nat))
        elif r['kind'] == 'nlb':
            nlb = _nlb(r, self.clock)
            for a in r['ips']:
                self.nlbs[(vni, p.ip4(a))] = nlb
            self.nlbs_of_vni.setdefault(vni, []).append(nlb)
            self.target_ends |= {(vni, t.ip, lst.target_port) for lst in nlb.listeners.values() for t in lst.targets}
            if nlb.health:
                self.checks.append((nlb, r['id'], r['shard'], r['health_check'].get('port'), vni))
            self.by_id[r['id']] = (None, r['shard'])
            self._replicated(r['id'], nlb, r['shard'])
        else:
            pv = r['provider']
            nlb = _nlb(dict(pv, name=pv['load_balancer'], ips=[pv['nlb_ip']], listeners=r['listeners']), self.clock,
                       health=False)
            ep = InterfaceEndpoint(r['id'], p.ip4(r['ips'][0]), pv['account'], _service(pv), nlb, p.ip4(pv['nlb_ip']),
                                   self.store, self.name, self.clock,
                                   port_filter=lambda q, r=r: self.owns_bucket(pv['load_balancer_id'], r['shard'], q))
            ep.nat.blocks = self.store.blocks_of(r['id'], self.name)
            self._replicated(r['id'], ep.nat, r['shard'])
            self._replicated(f'{r["id"]}/nlb', nlb, r['shard'])
            self.by_id[r['id']] = (ep.nat, r['shard'])
            self.endpoints[(vni, p.ip4(r['ips'][0]))] = (ep, pv['vni'])
            self.consumers.setdefault((pv['vni'], p.ip4(pv['nlb_ip'])), []).append((ep, vni))

    def owns_bucket(self, rid, shard, port):
        """Does the VPC router send replies to `port` (its bucket) of resource `rid` to this node?"""
        members = [n for n in shard if n in self.live]
        return sharding.bucket_owner(rid, sharding.bucket_of(None, port), members) == self.name

    def _nat(self, rid, ip, shard):
        nat = NatNode(rid, self.name, p.ip4(ip), self.store, self.clock)
        nat.blocks = self.store.blocks_of(rid, self.name)      # a restored node's, that no one adopted
        self._replicated(rid, nat, shard)
        self.by_id[rid] = (nat, shard)
        return nat

    def _replicated(self, key, state, shard):
        """`state`'s updates go to the other nodes of `shard`, theirs come into it under `key`."""
        state.on_update.append(lambda rec: self._replicate(key, rec))
        self.replicas[key] = (state, shard)

    @property
    def counters(self):
        """The node's own counts (its drops by reason, `drop:<reason>`: one per packet it dropped) and its
        NAT gateways' and NLBs' other counts.  Their drop counts are left out: they count every try, and
        `decide` tries an NLB's `reverse` on every packet of its VPC before a NAT gateway's."""
        out = Counter(self.own)
        cores = [nat.counters for nat, _ in self.by_id.values() if nat is not None]
        cores += [nlb.counters for nlb in {id(x): x for x in self.nlbs.values() if isinstance(x, Nlb)}.values()]
        for c in cores:
            out.update({k: v for k, v in c.items() if not k.startswith('drop:')})
        return out

    # --- frames in ----------------------------------------------------------------------------
    def __call__(self, frame, ifname, vlan):
        if frame[23:24] == b'\x11' and frame[30:34] == self.ip and len(frame) >= 42 and \
                struct.unpack_from('!H', frame, 36)[0] == REPLICATION_PORT:
            return self._replication(frame)
        d = decapsulate(frame)
        if d is None:
            self.own['drop:not-tunnel'] += 1
            return []
        eth = p.parse_eth(d.inner)
        ip = p.parse_ipv4(d.inner, eth.offset) if eth.ethertype == p.ETH_P_IP else None
        if ip is None:
            self.own['drop:not-ipv4'] += 1
            return []
        packet = bytes(d.inner[eth.offset:eth.offset + ip.total_length])
        vni, verdict = self.decide(d.vni, ip, packet)
        if isinstance(verdict, Drop):
            self.own[f'drop:{verdict.reason}'] += 1
        if packet.endswith(TRACE_MARK):
            # what became of a traced packet, apart from the same counters' health checks and other flows
            self.own[f'traced:drop:{verdict.reason}' if isinstance(verdict, Drop) else
                     f'traced:{type(verdict).__name__.lower()}'] += 1
        return self.frames(verdict, vni)

    def decide(self, vni, ip, packet):
        """(VNI the verdict belongs in, verdict) for an IPv4 packet arriving in VPC `vni`; the verdict None
        for a health check's answer that the node took in (a refusal: nothing to send, no packet dropped)."""
        key = (vni, ip.dst)
        nat = self.nats.get(key)
        if nat is not None:
            return vni, nat.translate_in(packet)
        nlb = self.nlbs.get(key)
        if nlb is not None and (ip.proto, _dport(packet, ip)) in nlb.listeners:
            return vni, nlb.forward(packet)
        for ep, consumer_vni in self.consumers.get(key, ()):     # the provider's reply to an endpoint's flow
            verdict = ep.to_consumer(packet)
            if not isinstance(verdict, Drop):
                return consumer_vni, verdict
        if nlb is not None:
            return vni, self._probe_answer(ip, packet)
        ep = self.endpoints.get(key)
        if ep is not None:
            endpoint, provider_vni = ep
            verdict = endpoint.to_provider(packet)
            return (vni if isinstance(verdict, Reply) else provider_vni), verdict
        for nlb in self.nlbs_of_vni.get(vni, ()):
            verdict = nlb.reverse(packet)
            if isinstance(verdict, Forward):
                return vni, verdict
        if (vni, ip.src, _sport(packet, ip)) in self.target_ends:
            # the VPC router sends every packet from a target's port here: one of a connection made to
            # the target directly, not through the NLB, goes on as it is
            self.own['direct'] += 1
            return vni, Forward(packet)
        src = int.from_bytes(ip.src, 'big')
        for v, net, mask, nat in self.nat_by_source:
            if v == vni and src & mask == net:
                return vni, nat.translate_out(packet)
        return vni, Drop('not-served')

    def frames(self, verdict, vni):
        # a Reply (a RST to the instance) goes through Blackfoot too: the sender's host accepts tunnel
        # packets only from the hosts of registered senders and from the edge (its receiving check)
        if isinstance(verdict, (Forward, Reply)):
            self.own['to-edge' if isinstance(verdict, Forward) else 'replies'] += 1
            return [self._to(self.edge.ip, self.edge.mac, vni, verdict.packet)]
        return []

    def _to(self, ip, mac, vni, packet):
        inner = p.build_eth(VPC_ROUTER_MAC, self.mac, p.ETH_P_IP, packet)
        return self.ifname, encapsulate(inner, vni, self.ip, ip, self.mac, mac, self.encapsulation)

    # --- replication --------------------------------------------------------------------------
    def _replicate(self, key, record):
        for peer in self.replicas[key][1]:
            if peer != self.name and peer in self.peers:
                self.outbox.setdefault(peer, []).append([key, record])

    def _datagram(self, peer, message):
        data = json.dumps(message).encode()
        udp = struct.pack('!HHHH', REPLICATION_PORT, REPLICATION_PORT, 8 + len(data), 0) + data
        return self.ifname, p.build_eth(peer.mac, self.mac, p.ETH_P_IP,
                                        p.build_ipv4(self.ip, peer.ip, p.PROTO_UDP, udp))

    def flush(self):
        """The replication records queued, as datagrams to their peers."""
        out = []
        for name, records in self.outbox.items():
            batch, size = [], 0
            for rec in records:
                batch.append(rec)
                size += len(json.dumps(rec))
                if size > MAX_DATAGRAM:
                    out.append(self._datagram(self.peers[name], dict(records=batch)))
                    batch, size = [], 0
            if batch:
                out.append(self._datagram(self.peers[name], dict(records=batch)))
        self.outbox = {}
        return out

    def sync_requests(self):
        """Asks every peer for the entries of the resources we share (a node that starts)."""
        return [self._datagram(peer, dict(sync=self.name)) for peer in self.peers.values()]

    def _replication(self, frame):
        ip = p.parse_ipv4(frame, 14)
        message = json.loads(bytes(frame[14 + ip.ihl + 8:14 + ip.total_length]))
        for key, record in message.get('records', ()):
            state = self.replicas.get(key, (None,))[0]
            if state is not None:
                state.import_([record])
                self.own['replicated-in'] += 1
        asker = message.get('sync')
        if asker in self.peers:
            for key, (state, shard) in self.replicas.items():
                if asker in shard:
                    self.outbox.setdefault(asker, []).extend([key, rec] for rec in state.export())
        return self.flush()

    # --- membership, adoption, health checks (the loop's idle time) ---------------------------
    def adopt(self, lost):
        """Takes over `lost`'s port blocks that replicated flows here use."""
        for nat, shard in self.by_id.values():
            if nat is not None and lost in shard:
                self.own['adopted-blocks'] += len(nat.adopt(lost))

    def expire(self):
        for nat, _ in self.by_id.values():
            if nat is not None:
                nat.expire()

    def health_checks(self, now):
        """SYNs to the targets whose check is due, from a port whose reply comes back to this node;
        checks not answered in time count as failures."""
        out = []
        for key, (checks, target, deadline) in list(self.probes.items()):
            if now >= deadline:
                del self.probes[key]
                checks.report(target, False, now)
        for nlb, rid, shard, hc_port, vni in self.checks:
            ports = [q for q in PROBE_PORTS if self.owns_bucket(rid, shard, q)]
            if not ports:
                continue
            source = min(nlb.addresses)
            for lst_port, checks in nlb.health.items():
                lst = nlb.listeners[(p.PROTO_TCP, lst_port)]
                for target in checks.due(now):
                    dport = hc_port or lst.target_port
                    if any(k[:2] == (target.ip, dport) for k in self.probes):
                        continue
                    checks._due[target] = now + checks.interval_s
                    # a new source port each time: a probe never meets the last one's state on the target
                    self.probe_count += 1
                    port = ports[self.probe_count % len(ports)]
                    self.probes[(target.ip, dport, port)] = (checks, target, now + PROBE_TIMEOUT_S)
                    out.append(self._to(self.edge.ip, self.edge.mac, vni, _syn(source, port, target.ip, dport)))
                    self.own['health-probes'] += 1
        return out

    def _probe_answer(self, ip, packet):
        at = ip.ihl
        if ip.proto != p.PROTO_TCP or len(packet) < at + 14:
            return Drop('no-listener')
        sport, dport = struct.unpack_from('!HH', packet, at)
        pending = self.probes.pop((ip.src, sport, dport), None)
        if pending is None:
            return Drop('no-listener')
        checks, target, _ = pending
        flags = packet[at + 13]
        ok = flags & (TCP_SYN | TCP_ACK) == TCP_SYN | TCP_ACK
        change = checks.report(target, ok, self.clock())
        if change:
            self.own[f'health:{target.name}:{change}'] += 1
        if not ok:
            return None
        seq, ack = struct.unpack_from('!II', packet, at + 4)
        # the RST takes the SYN-ACK's acknowledgement as its sequence number, or the target ignores it
        return Forward(_tcp(ip.dst, dport, ip.src, sport, ack, (seq + 1) & 0xffffffff, TCP_RST | TCP_ACK))


def _service(provider):
    return EndpointService(provider['service_name'], provider['service'], provider['vpc'], provider['owner'],
                           provider['load_balancer'], tuple(provider['allowed_accounts']))


def _net(cidr):
    addr, _, bits = cidr.partition('/')
    mask = (0xffffffff << (32 - int(bits))) & 0xffffffff
    return int.from_bytes(p.ip4(addr), 'big') & mask, mask


def _sport(packet, ip):
    at = ip.ihl
    if ip.proto in (p.PROTO_TCP, p.PROTO_UDP) and len(packet) >= at + 4:
        return struct.unpack_from('!H', packet, at)[0]
    return None


def _dport(packet, ip):
    at = ip.ihl
    if ip.proto in (p.PROTO_TCP, p.PROTO_UDP) and len(packet) >= at + 4:
        return struct.unpack_from('!H', packet, at + 2)[0]
    return None


def _tcp(src, sport, dst, dport, seq, ack, flags):
    seg = bytearray(struct.pack('!HHIIBBHHH', sport, dport, seq, ack, 5 << 4, flags, 1024, 0, 0))
    struct.pack_into('!H', seg, 16, p.l4_checksum(src, dst, p.PROTO_TCP, seg))
    return p.build_ipv4(src, dst, p.PROTO_TCP, bytes(seg))


def _syn(src, sport, dst, dport):
    return _tcp(src, sport, dst, dport, 0x1000, 0, TCP_SYN)
