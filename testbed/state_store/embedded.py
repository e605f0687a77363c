"""The embedded state store: dictionaries behind one lock, in the lab's own process (the default)."""
import threading
import time

from testbed.state_store.base import ANY, Store


class EmbeddedStore(Store):
    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._lock = threading.Lock()
        self._leases = {}           # node -> (expiry, ttl)
        self._blocks = {}           # (gateway, scope) -> {index: owner}

    def _alive(self, node):
        lease = self._leases.get(node)
        return lease is not None and lease[0] > self.clock()

    def join(self, node, ttl):
        with self._lock:
            self._leases[node] = (self.clock() + ttl, ttl)

    def keepalive(self, node):
        with self._lock:
            if not self._alive(node):
                self._leases.pop(node, None)
                return False
            ttl = self._leases[node][1]
            self._leases[node] = (self.clock() + ttl, ttl)
            return True

    def leave(self, node):
        with self._lock:
            self._leases.pop(node, None)

    def members(self):
        with self._lock:
            return sorted(n for n in self._leases if self._alive(n))

    def claim_block(self, gateway, node, count, scope=ANY):
        with self._lock:
            held = self._blocks.setdefault((gateway, scope), {})
            index = next((i for i in range(count) if i not in held), None)
            if index is not None:
                held[index] = node
            return index

    def release_block(self, gateway, index, node, scope=ANY):
        with self._lock:
            held = self._blocks.get((gateway, scope), {})
            if held.get(index) != node:
                return False
            del held[index]
            return True

    def transfer_block(self, gateway, index, from_node, to_node, scope=ANY):
        with self._lock:
            held = self._blocks.get((gateway, scope), {})
            if held.get(index) != from_node:
                return False
            held[index] = to_node
            return True

    def blocks(self, gateway, scope=ANY):
        with self._lock:
            return dict(self._blocks.get((gateway, scope), {}))
