"""Blackfoot's doors to Hyperplane: which node a packet from outside for a NAT gateway's or an
internet-facing NLB's private address goes to (the mapping service knows no such address).

- NAT gateway: the node holding the block of the reply's destination port (`nat.port_owner`); the
  blocks are read from the state store once and again only on a miss, after a node's loss (the
  lab says which nodes failed: their blocks move to the survivors that adopt them), and at most
  every `REFRESH_S` seconds per block, so the store is not asked per packet.  Per block, not per
  gateway: another node's first block, claimed just after a read, must not wait for the next one
  (its first connection's SYN-ACK was dropped, and the SYN resent a second later).
- NLB: the live shard member of the bucket of the client's (address, port), as the VPC router
  spreads the target's replies (`sharding.bucket_owner`), so both directions meet one node.
"""
import time

from testbed.appliances.hyperplane import sharding
from testbed.appliances.hyperplane.flows import answer_key, flow_of
from testbed.appliances.hyperplane.nat import block_of
from testbed.appliances.packets import PROTO_ICMP

REFRESH_S = 0.2         # the least time between two reads of one gateway's blocks


class Doors:
    """`doors[(vni, private ip)](packet) -> (node underlay ip, node mac) or None`."""

    def __init__(self, nodes, nats, nlbs, store, clock=time.monotonic):
        self.nodes = nodes                  # name -> (4-byte underlay ip, mac bytes)
        self.store, self.clock = store, clock   # a Store, or a callable returning one (lazily opened)
        self.failed, self.blocks, self.read_at = set(), {}, {}
        self.doors, self.nat_keys = {}, {(vni, ip) for _, vni, ip in nats}
        for gateway, vni, ip in nats:
            self.doors[(vni, ip)] = lambda packet, g=gateway: self._nat(g, packet)
        for lb, vni, ips, shard in nlbs:
            for ip in ips:
                self.doors[(vni, ip)] = lambda packet, lb=lb, shard=shard: self._nlb(lb, shard, packet)

    def get(self, key):
        return self.doors.get(key)

    def why(self, key, packet):
        """The drop reason when door `key` had no answer for `packet`: no node of a NAT gateway holds a
        connection on the packet's port (nothing went out that way), or an NLB has no live node."""
        if flow_of(packet) is None:
            return 'not-a-flow'
        return 'no-flow' if key in self.nat_keys else 'no-live-node'

    def set_failed(self, names):
        self.failed = set(names)
        self.read_at.clear()                # blocks of a failed node are being adopted: read again

    def _store(self):
        if callable(self.store):
            self.store = self.store()
        return self.store

    def _nat(self, gateway, packet):
        seen = flow_of(packet)
        if seen is None:
            return None
        block = block_of(answer_key(seen).dport)        # pings: both ports are the identifier
        owner = self.blocks.get(gateway, {}).get(block)
        if owner is None or owner in self.failed:
            now = self.clock()
            if now - self.read_at.get((gateway, block), -1e9) >= REFRESH_S:
                self.read_at[(gateway, block)] = now
                self.blocks[gateway] = self._store().blocks(gateway)
                owner = self.blocks[gateway].get(block)
        return self.nodes.get(owner) if owner not in self.failed else None

    def _nlb(self, lb, shard, packet):
        seen = flow_of(packet)
        if seen is None:
            return None
        t = seen.tuple
        port = None if t.proto == PROTO_ICMP else t.sport
        owner = sharding.bucket_owner(lb, sharding.bucket_of(t.src, port), [n for n in shard if n not in self.failed])
        return self.nodes.get(owner)
