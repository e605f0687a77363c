"""A NAT gateway on one Hyperplane node: source ports unique across the shard, without asking anyone
per packet, and flow state another node can take over.

Ports: 1024-65535 are cut into blocks of `block_size` (1024: 63 blocks).  Each node of the gateway's
shard claims whole blocks in the state store (`claim_block`: atomic, so no two nodes hold the same
block) and picks the source ports of its new connections from its own blocks only; so two
connections to the same destination IP and port get different source ports whichever nodes they
went through, and the packet path never asks the store.  A node reuses a port toward other
destinations (a connection is unique by its 5-tuple); it claims another block only when all of its
ports are taken toward one destination: once per `block_size` connections to it, not per packet.
The owner of a block is also how a reply to (gateway, port) finds its node: `port_owner`.

Translation: outbound, the instance's (private address, port) becomes (the gateway's private address,
the chosen port) -- the NAT gateway's subnet routes to igw, where Blackfoot maps that address to the
gateway's elastic IP 1:1, as in AWS -- and inbound the reverse; ICMP errors are matched by the
packet they quote, whose header is rewritten too.  Pings are translated by their identifier.

State: each flow's entry (5-tuple as sent, translated port, TCP state, last seen, owner, block) is
handed to `on_update` listeners when it is made or its state changes (and at most every
`refresh_s` as it is used), which copy it to the other nodes of the shard (`import_`; `export()`
gives all entries at once, for a node that joins).  When a node is lost, the traffic the fabric
sends elsewhere finds its entry there: `adopt(lost)` takes the lost node's blocks that its
replicated flows use (compare-and-swap in the store), so established connections carry on with
their ports, and their replies find the adopting node.

Idle timeouts: AWS documents 350 s for a NAT gateway's connections, after which it answers the
instance's next packet of the connection with a TCP RST (no FIN): so here for established TCP, UDP
and ICMP.  The shorter ones for TCP that is not yet or no longer established are this lab's choice
(`TIMEOUTS`).  A TCP segment other than a SYN that belongs to no flow gets the RST at once.
"""
import socket
from collections import Counter
from dataclasses import asdict, dataclass

from testbed.appliances.hyperplane.flows import (
    TCP_ACK,
    TCP_FIN,
    TCP_RST,
    TCP_SYN,
    Drop,
    Forward,
    Reply,
    Tuple,
    answer_key,
    flow_of,
    rewrite,
    tcp_reset,
)
from testbed.appliances.packets import PROTO_TCP
from testbed.state_store.base import ANY

PORT_FIRST, PORT_END = 1024, 65536
BLOCK_SIZE = 1024
IDLE_TIMEOUT_S = 350                    # AWS NAT gateway: a connection idle this long times out
TIMEOUTS = {'syn-sent': 60, 'established': IDLE_TIMEOUT_S, 'closing': 60, 'closed': 10,
            'open': IDLE_TIMEOUT_S}     # open: UDP and ICMP
PORTED = (6, 17)


def block_count(block_size=BLOCK_SIZE):
    return (PORT_END - PORT_FIRST) // block_size


def block_ports(index, block_size=BLOCK_SIZE):
    start = PORT_FIRST + index * block_size
    return range(start, start + block_size)


def block_of(port, block_size=BLOCK_SIZE):
    return (port - PORT_FIRST) // block_size if port >= PORT_FIRST else None


def port_owner(store, gateway, port, block_size=BLOCK_SIZE, scope=ANY):
    """The node holding the block of translated port `port`: where a reply to it goes (or None)."""
    return store.blocks(gateway, scope).get(block_of(port, block_size))


@dataclass
class Entry:
    out: Tuple              # as the instance sent it
    port: int               # the translated source port (or ICMP identifier)
    state: str
    last_seen: float
    owner: str              # the node whose block the port is in
    block: int

    def record(self):
        d = asdict(self)
        o = self.out
        d['out'] = [o.proto, socket.inet_ntoa(o.src), o.sport, socket.inet_ntoa(o.dst), o.dport]
        return d

    @classmethod
    def from_record(cls, d):
        proto, src, sport, dst, dport = d['out']
        out = Tuple(proto, socket.inet_aton(src), sport, socket.inet_aton(dst), dport)
        return cls(out, d['port'], d['state'], d['last_seen'], d['owner'], d['block'])


def _next_state(state, flags, outbound):
    """TCP as a middlebox sees it: the answer to a SYN establishes, FIN closes, RST ends."""
    if flags & TCP_RST or state == 'closed':
        return 'closed'
    if flags & TCP_FIN or state == 'closing':
        return 'closing'
    if state == 'syn-sent' and not outbound and flags & TCP_ACK:
        return 'established'
    return state


class NatNode:
    def __init__(self, gateway, node, address, store, clock, block_size=BLOCK_SIZE, refresh_s=30.0,
                 port_filter=None):
        self.gateway, self.node, self.address, self.store = gateway, node, address, store
        self.port_filter = port_filter  # port -> bool: ports this node may give (None: all of its blocks')
        self.clock, self.block_size, self.refresh_s = clock, block_size, refresh_s
        self.blocks = []                # block indices this node holds
        self.out, self.into = {}, {}    # out tuple -> Entry; reply tuple -> Entry
        self.used = {}                  # (proto, dst, dport) -> {ports in use toward it}
        self.on_update = []             # callables(record): the replication stream
        self._sent = {}                 # out tuple -> last_seen when it was last replicated
        self.counters = Counter()

    # --- ports ---------------------------------------------------------------------------------
    def _claim(self):
        index = self.store.claim_block(self.gateway, self.node, block_count(self.block_size))
        if index is not None:
            self.blocks.append(index)
            self.counters['block-claims'] += 1
        return index

    def _free_port(self, dest):
        used = self.used.setdefault(dest, set())
        for index in list(self.blocks):
            for port in block_ports(index, self.block_size):
                if port not in used and (self.port_filter is None or self.port_filter(port)):
                    return index, port
        index = self._claim()
        if index is None:
            return None, None
        ports = block_ports(index, self.block_size)
        return index, next(q for q in ports if self.port_filter is None or self.port_filter(q))

    @staticmethod
    def _dest(t):
        return t.proto, t.dst, t.dport if t.proto in PORTED else 0

    def _reply_key(self, e):
        o = e.out
        return Tuple(o.proto, o.dst, o.dport if o.proto in PORTED else e.port, self.address, e.port)

    # --- the table ------------------------------------------------------------------------------
    def _add(self, e):
        self.out[e.out] = e
        self.into[self._reply_key(e)] = e
        self.used.setdefault(self._dest(e.out), set()).add(e.port)

    def _remove(self, e):
        self.out.pop(e.out, None)
        self.into.pop(self._reply_key(e), None)
        self._sent.pop(e.out, None)
        self.used.get(self._dest(e.out), set()).discard(e.port)

    def _live(self, e, now):
        if e is not None and now - e.last_seen > TIMEOUTS[e.state]:
            self._remove(e)
            self.counters['expired'] += 1
            return None
        return e

    def _touch(self, e, flags, outbound, now):
        old = e.state
        if e.out.proto == PROTO_TCP:
            e.state = _next_state(e.state, flags, outbound)
        e.last_seen = now
        if e.state != old or now - self._sent.get(e.out, -1e18) >= self.refresh_s:
            self._publish(e)

    def _publish(self, e):
        self._sent[e.out] = e.last_seen
        record = e.record()
        for send in self.on_update:
            send(record)

    # --- packets --------------------------------------------------------------------------------
    def translate_out(self, packet):
        """An instance's packet toward the gateway: `Forward` with the source translated, a `Reply`
        (RST) for a TCP segment of no connection, or `Drop`."""
        buf, now = bytearray(packet), self.clock()
        seen = flow_of(buf)
        if seen is None:
            return self._drop('not-a-flow')
        if seen.quote is not None:          # an instance's ICMP error about a reply it got
            e = self._live(self.out.get(answer_key(seen)), now)
            if e is None:
                return self._drop('no-flow')
            rewrite(buf, seen, 'src', self.address, e.port)
            return Forward(bytes(buf))
        t, flags = seen.tuple, seen.tcp_flags
        e = self._live(self.out.get(t), now)
        if e is None:
            if t.proto == PROTO_TCP and not (flags & TCP_SYN and not flags & TCP_ACK):
                self.counters['rst:no-flow'] += 1
                return Reply(tcp_reset(bytes(buf)))
            index, port = self._free_port(self._dest(t))
            if port is None:
                return self._drop('ports-exhausted')
            e = Entry(t, port, 'syn-sent' if t.proto == PROTO_TCP else 'open', now, self.node, index)
            self._add(e)
            self.counters['flows'] += 1
        self._touch(e, flags, True, now)
        rewrite(buf, seen, 'src', self.address, e.port)
        self.counters['out'] += 1
        return Forward(bytes(buf))

    def translate_in(self, packet):
        """A reply from outside to the gateway's address: `Forward` to the instance, or `Drop`."""
        buf, now = bytearray(packet), self.clock()
        seen = flow_of(buf)
        if seen is None:
            return self._drop('not-a-flow')
        e = self._live(self.into.get(answer_key(seen)), now)
        if e is None:
            return self._drop('no-flow')
        if seen.quote is None:
            self._touch(e, seen.tcp_flags, False, now)
        rewrite(buf, seen, 'dst', e.out.src, e.out.sport)
        self.counters['in'] += 1
        return Forward(bytes(buf))

    def _drop(self, reason):
        self.counters[f'drop:{reason}'] += 1
        return Drop(reason)

    # --- housekeeping and replication -----------------------------------------------------------
    def expire(self):
        """Forgets the flows idle beyond their timeout; returns how many."""
        now = self.clock()
        return sum(self._live(e, now) is None for e in list(self.out.values()))

    def export(self):
        return [e.record() for e in self.out.values()]

    def import_(self, records):
        """Entries another node of the shard made (or changed): kept as they are, owner and all."""
        for record in records:
            e = Entry.from_record(record)
            old = self.out.get(e.out)
            if old is not None:
                self._remove(old)
            self._add(e)
        return self

    def adopt(self, lost):
        """After `lost` left the shard: takes over its blocks that flows held here use. Returns them."""
        wanted = {e.block for e in self.out.values() if e.owner == lost}
        taken = [i for i in sorted(wanted) if self.store.transfer_block(self.gateway, i, lost, self.node)]
        self.blocks += taken
        for e in self.out.values():
            if e.owner == lost and e.block in taken:
                e.owner = self.node
        return taken

    def release(self):
        """Gives the node's blocks back (a clean stop)."""
        for index in self.blocks:
            self.store.release_block(self.gateway, index, self.node)
        self.blocks = []


def replicate(nodes):
    """Wires each node's updates into every other one's table: the in-process stand-in for the
    stream the wiring sends between nodes of a shard."""
    for node in nodes:
        node.on_update.append(lambda record, me=node: [o.import_([record]) for o in nodes if o is not me])

