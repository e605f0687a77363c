"""A network load balancer on one Hyperplane node: listeners, flow-hash target choice, health checks.

- A packet to one of the load balancer's addresses and a listener's port goes to a target of that
  listener: only the destination is rewritten (target address and `target_port`); the client's
  source address and port stay, so the target sees the client (as AWS's NLB with instance targets).
  An internet-facing NLB is reached through an elastic IP: Blackfoot maps it 1:1 to the NLB's
  private address before the packet gets here, and back on the way out.
- The target: the flow table first (a connection stays on its target whatever happens to the set),
  then rendezvous hashing of the 5-tuple over the listener's healthy targets, so a new flow with
  the same 5-tuple picks the same target while that target stays healthy, and only the flows of a
  target that leaves move.  With no healthy target the NLB fails open to all of them (as AWS).
- The reverse path: the target's reply (to the client) is brought back here by the VPC router
  (README.md); `reverse` puts the listener's address and port back as its source.
- Health checks: `HealthChecks` is the state machine; a target that stops answering is out after
  `unhealthy` failed checks, one every `interval_s` (so within interval x unhealthy), and back in
  after `healthy` good ones.  New targets start unhealthy ('initial' in AWS) until they pass.
- Idle timeouts as AWS's NLB: 350 s for TCP, 120 s for UDP.
- State: each new flow (and at most every `REFRESH_S` of its use) is handed to `on_update` listeners,
  which copy it to the other nodes of the shard (`import_`, `export`), as the NAT gateway's entries:
  after a node's loss its buckets go to a survivor that already knows where each connection goes
  and which listener its replies come from.
"""
import socket
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from testbed.appliances.hyperplane.flows import Drop, Forward, Tuple, answer_key, flow_of, rewrite
from testbed.appliances.hyperplane.sharding import ranking
from testbed.appliances.packets import PROTO_TCP, ip4_text

IDLE_TIMEOUT_S = {6: 350, 17: 120}
REFRESH_S = 30.0        # a flow in use is copied to the shard again at most this often


class Target(NamedTuple):
    name: str               # the instance
    ip: bytes


@dataclass(frozen=True)
class Listener:
    port: int
    targets: tuple          # Target
    target_port: int
    protocol: int = PROTO_TCP


@dataclass
class HealthChecks:
    """Per target: consecutive successes and failures, healthy or not, when it is next due."""
    targets: tuple
    interval_s: float = 30
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    healthy: set = field(default_factory=set)
    _streak: dict = field(default_factory=dict)     # target -> (ok, how many in a row)
    _due: dict = field(default_factory=dict)

    def due(self, now):
        """The targets whose check is due at `now` (each once per interval)."""
        return [t for t in self.targets if self._due.get(t, now) <= now]

    def report(self, target, ok, now):
        """The result of one check; returns 'healthy' or 'unhealthy' when the target changed."""
        self._due[target] = now + self.interval_s
        last, n = self._streak.get(target, (ok, 0))
        n = n + 1 if last == ok else 1
        self._streak[target] = (ok, n)
        if ok and target not in self.healthy and n >= self.healthy_threshold:
            self.healthy.add(target)
            return 'healthy'
        if not ok and target in self.healthy and n >= self.unhealthy_threshold:
            self.healthy.discard(target)
            return 'unhealthy'
        return None

    def tick(self, now, probe):
        """Runs `probe(target) -> bool` for every due target; returns the changes [(target, state)]."""
        changes = [(t, self.report(t, probe(t), now)) for t in self.due(now)]
        return [c for c in changes if c[1]]


@dataclass
class Conn:
    target: Target
    target_port: int
    listener_port: int
    last_seen: float
    published: float | None = None     # when it was last copied to the shard


class Nlb:
    def __init__(self, name, addresses, listeners, clock, health=None):
        self.name, self.clock = name, clock
        self.addresses = set(addresses)             # the NLB's private addresses (one per subnet)
        self.listeners = {(lst.protocol, lst.port): lst for lst in listeners}
        self.health = health                        # {listener port: HealthChecks}, None: all healthy
        self.flows, self.replies = {}, {}           # client 5-tuple -> Conn; reply 5-tuple -> client 5-tuple
        self.counters = Counter()
        self.on_update = []                         # record -> None: the other nodes' import_

    def _drop(self, reason):
        self.counters[f'drop:{reason}'] += 1
        return Drop(reason)

    def candidates(self, listener):
        checks = self.health.get(listener.port) if self.health else None
        healthy = [t for t in listener.targets if checks is None or t in checks.healthy]
        return healthy or list(listener.targets)    # fail open

    def choose(self, t, listener):
        """The target of a new flow `t`: rendezvous hashing of its 5-tuple over the candidates."""
        key = f'{t.proto}/{ip4_text(t.src)}:{t.sport}/{ip4_text(t.dst)}:{t.dport}'
        by_name = {target.name: target for target in self.candidates(listener)}
        return by_name[ranking(key, by_name)[0]]

    def _live(self, t, now):
        conn = self.flows.get(t)
        if conn is not None and now - conn.last_seen > IDLE_TIMEOUT_S.get(t.proto, 350):
            self._forget(t, conn)
            conn = None
        return conn

    def _add(self, t, conn):
        self.flows[t] = conn
        self.replies[Tuple(t.proto, conn.target.ip, conn.target_port, t.src, t.sport)] = t

    def export(self):
        return [_record(t, conn) for t, conn in self.flows.items()]

    def import_(self, records):
        """Flows another node of the shard chose targets for: kept as they are."""
        for d in records:
            proto, src, sport, dst, dport = d['flow']
            t = Tuple(proto, socket.inet_aton(src), sport, socket.inet_aton(dst), dport)
            old = self.flows.get(t)
            if old is not None:
                self._forget(t, old)
            self._add(t, Conn(Target(d['target'], socket.inet_aton(d['ip'])), d['target_port'], d['listener_port'],
                              d['last_seen'], d['last_seen']))
        return self

    def _forget(self, t, conn):
        del self.flows[t]
        self.replies.pop(Tuple(t.proto, conn.target.ip, conn.target_port, t.src, t.sport), None)

    def forward(self, packet):
        """A client's packet to a listener: `Forward` with the destination rewritten, or `Drop`."""
        buf, now = bytearray(packet), self.clock()
        seen = flow_of(buf)
        if seen is None or seen.quote is not None:
            return self._drop('not-a-flow')
        t = seen.tuple
        if t.dst not in self.addresses:
            return self._drop('not-this-load-balancer')
        listener = self.listeners.get((t.proto, t.dport))
        if listener is None:
            return self._drop('no-listener')
        conn = self._live(t, now)
        if conn is None and not listener.targets:
            return self._drop('no-target')      # AWS: the target group has no registered target
        if conn is None:
            conn = Conn(self.choose(t, listener), listener.target_port, listener.port, now)
            self._add(t, conn)
            self.counters[f'flows:{conn.target.name}'] += 1
        conn.last_seen = now
        if conn.published is None or now - conn.published >= REFRESH_S:
            conn.published = now
            for send in self.on_update:
                send(_record(t, conn))
        rewrite(buf, seen, 'dst', conn.target.ip, conn.target_port)
        return Forward(bytes(buf))

    def reverse(self, packet):
        """A target's reply to a client (or its ICMP error): the listener's address as source."""
        buf, now = bytearray(packet), self.clock()
        seen = flow_of(buf)
        if seen is None:
            return self._drop('not-a-flow')
        client = self.replies.get(answer_key(seen))
        conn = self._live(client, now) if client is not None else None
        if conn is None:
            return self._drop('no-flow')
        conn.last_seen = now
        rewrite(buf, seen, 'src', client.dst, conn.listener_port)
        return Forward(bytes(buf))

    def deregister(self, target):
        """Forgets `target`'s connections (a deregistered target, not an unhealthy one)."""
        for t, conn in list(self.flows.items()):
            if conn.target == target:
                self._forget(t, conn)


def _record(t, conn):
    return dict(flow=[t.proto, socket.inet_ntoa(t.src), t.sport, socket.inet_ntoa(t.dst), t.dport],
                target=conn.target.name, ip=socket.inet_ntoa(conn.target.ip), target_port=conn.target_port,
                listener_port=conn.listener_port, last_seen=conn.last_seen)


def from_model(lb, addresses, clock, ip_of):
    """An `Nlb` for the topology's LoadBalancer `lb`: `ip_of(instance name) -> 4-byte address`."""
    hc = lb.health_check
    listeners = [Listener(lst.port, tuple(Target(n, ip_of(n)) for n in lst.targets), lst.target_port)
                 for lst in lb.listeners]
    health = {lst.port: HealthChecks(lst.targets, hc.interval_s, hc.healthy, hc.unhealthy) for lst in listeners}
    return Nlb(lb.name, addresses, listeners, clock, health)
