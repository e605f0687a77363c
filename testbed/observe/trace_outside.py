"""The model's legs of a trace outside the VPC routers: Blackfoot (the edge), the Hyperplane nodes and the
outside networks, decided by those appliances' own pure code on the traced packet's bytes.

`World` builds an `Edge` per edge node from the configuration the lab gives its processes
(edge_plan.plan, appliances/edge_process.build) and a `NodeHandler` per Hyperplane node
(hyperplane_plan.node_config, appliances/hyperplane/wire.py) on a store of its own, so the model asks
the same functions the packet loops run: `Edge.outbound`, `.inbound`, `.relay` and
`NodeHandler.decide`.  What the model cannot know of the live nodes: the port a NAT gateway or an
interface endpoint gives (from the blocks a node holds at that moment), and which NLB targets pass
their health checks (all are taken as healthy)."""
import ipaddress
import struct
import time
from dataclasses import dataclass

from testbed.appliances import blackfoot as bf
from testbed.appliances import edge_process
from testbed.appliances import packets as p
from testbed.appliances.hyperplane.flows import TRACE_MARK as MARK
from testbed.appliances.hyperplane.flows import Drop, Forward, Reply
from testbed.fabric import edge_plan, hyperplane_plan
from testbed.fabric.names import DEFAULT_PREFIX, Names
from testbed.observe.trace_rules import TCP, UDP

ICMP_ID = 0x7a7b        # its ICMP identifier (testbed/observe/trace_packet.py)
NO_RUN_DIR = '/nonexistent/vpclab-trace-model'      # the plans name files there; the model opens none
# stages outside the hosts' pipeline: Blackfoot, a Hyperplane node, an outside network's router or host
OUTSIDE_STAGES = ('EDGE', 'HYPERPLANE_NODE', 'OUTSIDE')


def packet(src, dst, probe, ttl=64):
    """The traced packet's IPv4 bytes (tcp: a SYN), as trace_packet.py sends it."""
    s, d = p.ip4(src), p.ip4(dst)
    if probe.protocol == TCP:
        seg = bytearray(struct.pack('!HHIIBBHHH', probe.sport, probe.port, 1000, 0, 5 << 4, 0x02, 8192, 0, 0) + MARK)
        struct.pack_into('!H', seg, 16, p.l4_checksum(s, d, p.PROTO_TCP, seg))
    elif probe.protocol == UDP:
        seg = bytearray(struct.pack('!HHHH', probe.sport, probe.port, 8 + len(MARK), 0) + MARK)
        struct.pack_into('!H', seg, 6, p.l4_checksum(s, d, p.PROTO_UDP, seg))
    else:
        seg = p.build_icmp(8, 0, struct.pack('!HH', ICMP_ID, 1), MARK)
    return p.build_ipv4(s, d, probe.protocol, bytes(seg), ttl=ttl)


def reply(pkt):
    """The answer a host would send to `pkt` (tcp: a SYN-ACK; icmp: an echo reply): addresses and ports
    swapped."""
    ip = p.parse_ipv4(pkt)
    at = ip.ihl
    if ip.proto == p.PROTO_ICMP:
        seg = p.build_icmp(0, 0, bytes(pkt[at + 4:at + 8]), bytes(pkt[at + 8:ip.total_length]))
    else:
        sport, dport = struct.unpack_from('!HH', pkt, at)
        if ip.proto == p.PROTO_TCP:
            seg = bytearray(struct.pack('!HHIIBBHHH', dport, sport, 5000, 1001, 5 << 4, 0x12, 8192, 0, 0))
        else:
            seg = bytearray(struct.pack('!HHHH', dport, sport, 8 + len(MARK), 0) + MARK)
        struct.pack_into('!H', seg, 16 if ip.proto == p.PROTO_TCP else 6,
                         p.l4_checksum(ip.dst, ip.src, ip.proto, seg))
    return p.build_ipv4(ip.dst, ip.src, ip.proto, bytes(seg))


def endpoints(pkt):
    """'10.0.1.10:40000 -> 198.51.100.10:80' (icmp: the addresses and the identifier)."""
    ip = p.parse_ipv4(pkt)
    src, dst = p.ip4_text(ip.src), p.ip4_text(ip.dst)
    if ip.proto == p.PROTO_ICMP:
        return f'{src} -> {dst} (icmp id {struct.unpack_from("!H", pkt, ip.ihl + 4)[0]})'
    sport, dport = struct.unpack_from('!HH', pkt, ip.ihl)
    return f'{src}:{sport} -> {dst}:{dport}'


@dataclass(frozen=True)
class Hop:
    """Where a leg outside the hosts' pipeline sent the packet: `kind` host (encapsulated to a physical
    host, or a Hyperplane node), link (out of an outside link) or drop."""
    kind: str
    packet: bytes = b''
    vni: int | None = None
    host_ip: str | None = None
    link: str | None = None
    reason: str | None = None


def hop(actions):
    """A Hop of what Edge.outbound/inbound/relay returned (one packet: the trace sends no big one)."""
    a = actions[0]
    if isinstance(a, bf.Drop):
        return Hop('drop', reason=a.reason)
    if isinstance(a, bf.ToHost):
        return Hop('host', a.packet, a.vni, p.ip4_text(a.host_ip))
    return Hop('link', a.packet, link=a.link)


class World:
    """The edge nodes and Hyperplane nodes of a topology, as the lab configures them, deciding for the
    model; `entries`: the mapping service's table (TraceState.entries)."""

    def __init__(self, topo, entries, failed=()):
        self.topo = topo
        rows = [[e['vni'], e['ip'], e['host_ip'], e['mac']] for e in entries]
        self.mapping = edge_process.mapping_of(rows)
        self.edges = {}
        from testbed.state_store import EmbeddedStore
        self.store = EmbeddedStore()
        if edge_plan.needed(topo):
            names = Names(DEFAULT_PREFIX)
            for node, config in edge_plan.plan(topo, names, NO_RUN_DIR).edge_configs.items():
                edge = edge_process.build(config, self.mapping)[0].edge
                if edge.hyperplane is not None:
                    edge.hyperplane.store = self.store      # a NAT gateway's blocks: the model's nodes'
                    edge.hyperplane.set_failed(failed)
                self.edges[node[len(names.prefix):]] = edge
        self.nodes = {}
        live = {n.name for n in hyperplane_plan.nodes(topo)} - set(failed)
        for n in hyperplane_plan.nodes(topo):
            config = hyperplane_plan.node_config(topo, n, NO_RUN_DIR, (edge_plan.edge_ip(1), edge_plan.edge_mac(1)),
                                                 topo.encapsulation)
            handler = _node_handler(config, self.store)
            handler.live = live
            self.nodes[n.name] = handler

    # ---- where things are ----------------------------------------------------------------------
    def edge_of(self, target, src_ip):
        """The edge node a route to `target` sends `src_ip`'s packets to (controllers/router/gateways.py:
        igw and vpce: spread by the source's low bits, vgw and dx: on edge1)."""
        n = len(self.edges)
        if n == 1 or edge_plan.target_kind(target) not in ('igw', 'vpce'):
            return 'edge1'
        size = 1 << max(0, n - 1).bit_length()
        return f'edge{(int(ipaddress.IPv4Address(src_ip)) & (size - 1)) % n + 1}'

    def entering(self, link):
        """The edge node a packet from outside link `link` enters by: the internet router and S3 spread
        theirs over the nodes (ECMP), so with several nodes any of them ('edge*')."""
        return 'edge1' if len(self.edges) == 1 or link.startswith(('vpn:', 'dx:')) else 'edge*'

    def host_at(self, underlay_ip):
        """('host', name) of a physical host or ('node', name) of a Hyperplane node at an underlay address."""
        for h in self.topo.hosts.values():
            if h.underlay_ip == underlay_ip:
                return 'host', h.name
        for n in hyperplane_plan.nodes(self.topo):
            if n.ip == underlay_ip:
                return 'node', n.name
        return 'host', underlay_ip

    # ---- the appliances' decisions -------------------------------------------------------------
    def _edge(self, name):
        return self.edges['edge1' if name == 'edge*' else name]

    def outbound(self, edge, vni, pkt):
        return hop(self._edge(edge).outbound(vni, pkt))

    def inbound(self, edge, link, pkt):
        e = self._edge(edge)
        if link.startswith('vpn:'):
            pkt = _site_tunnel(e, link).seal(pkt)
        vlan = e.dx_by_name[link[3:]].vlan if link.startswith('dx:') else None
        return hop(e.inbound(link, pkt, vlan))

    def unsealed(self, edge, h):
        """The packet a link hop carries, as the host behind the link sees it (out of ESP for a VPN)."""
        if not h.link.startswith('vpn:'):
            return h.packet
        return _site_tunnel(self._edge(edge), h.link).open(h.packet)

    def relay(self, vni, pkt):
        """A Hyperplane node's packet on Blackfoot (the nodes send to edge1)."""
        return hop(self.edges['edge1'].relay(vni, pkt))

    def node(self, name, vni, pkt):
        """(verdict: Forward | Reply | Drop, the VNI it belongs in, what the node counted)."""
        handler = self.nodes[name]
        before = handler.counters
        out_vni, verdict = handler.decide(vni, p.parse_ipv4(pkt), pkt)
        counted = {k: v - before.get(k, 0) for k, v in handler.counters.items() if v != before.get(k, 0)}
        return verdict, out_vni, counted


def _node_handler(config, store):
    from testbed.appliances.hyperplane.wire import NodeHandler
    return NodeHandler(config, store, time.monotonic)


def _site_tunnel(edge, link):
    """The site's end of a VPN connection: its SAs are the edge's, the other way round (esp.sa_pair)."""
    from testbed.appliances.esp import Tunnel
    mine = edge.vpn_by_name[link[4:]].tunnel
    return Tunnel(mine.inbound, mine.outbound)


NODE_WORDS = {
    'not-served': 'no NAT gateway, load balancer or endpoint of this node serves its source',
    'no-listener': 'the load balancer has no listener on that protocol and port',
    'no-target': 'the listener has no target (its targets list is empty)',
    'no-flow': 'the node knows no connection it belongs to (nothing went out that way first)',
    'not-a-flow': 'it is no TCP, UDP or ICMP flow the node can follow (a fragment, another protocol)',
    'ports-exhausted': 'every source port of the gateway\'s address toward that destination is in use',
    'not-this-load-balancer': 'the destination is none of the load balancer\'s addresses',
    'not-this-endpoint': 'the destination is not the endpoint\'s address',
}


def node_words(verdict, counted, pkt):
    """What a Hyperplane node did with `pkt`, for people."""
    if isinstance(verdict, Drop):
        return f'drops {endpoints(pkt)}: {NODE_WORDS.get(verdict.reason, verdict.reason)}'
    if isinstance(verdict, Reply):
        return f'answers itself ({endpoints(verdict.packet)}), a TCP reset'
    new = ', '.join(k for k in counted if k.startswith(('flows', 'block-claims')))
    return f'forwards {endpoints(verdict.packet)}' + (f' (new flow: {new})' if new else '')


__all__ = ['Forward', 'Hop', 'OUTSIDE_STAGES', 'World', 'endpoints', 'node_words', 'packet', 'reply']
