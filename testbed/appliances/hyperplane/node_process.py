"""A Hyperplane node's process: `NodeHandler` on the packet loop, from a JSON file.

    python -m testbed.appliances.hyperplane.node_process CONFIG.json

CONFIG is what testbed/fabric/hyperplane_plan.py `node_config` writes: the node, its underlay
interface, Blackfoot's and its peers' underlay addresses, the state store's socket and the
resources it serves.  It joins the store with a lease and, from the loop's idle time, renews it,
sends the replication records it queued, runs the NLB health checks, expires idle flows and, when
a node of one of its shards leaves the store's members, adopts that node's port blocks.  On start
it asks its peers for their entries (a restored node).  Prints `ready` when it works; on SIGTERM
its counters (stderr) and a clean leave.  With `counters_file` in CONFIG it also writes its counters
there at every housekeeping and when it stops (as the edge does: `vpclab trace --wire` reads them).
"""
import json
import select
import signal
import sys
import time

from testbed.appliances.edge_process import write_counters
from testbed.appliances.hyperplane.wire import NodeHandler
from testbed.appliances.packet_loop import PacketLoop
from testbed.state_store.remote import RemoteStore

LEASE_S = 3             # a node that misses its keepalives this long is gone
HOUSEKEEPING_S = 0.5    # lease, members, health checks, expiry
BUSY_STEPS = 64         # a busy loop still does housekeeping after this many steps


class Node:
    def __init__(self, config, loop_open=PacketLoop.open, clock=time.monotonic):
        self.store = RemoteStore(config['store'])
        self.clock = clock
        self.handler = NodeHandler(config, self.store, clock)
        self.name = config['name']
        self.peers = set(config['peers'])
        self.loop = loop_open([config['underlay']['ifname']], self.handler)
        self.store.join(self.name, LEASE_S)
        self.members, self.next_at = set(self.store.members()), 0.0
        self.counters_file = config.get('counters_file')

    def housekeeping(self, now):
        if now < self.next_at:
            return
        self.next_at = now + HOUSEKEEPING_S
        if not self.store.keepalive(self.name):
            self.store.join(self.name, LEASE_S)
        members = set(self.store.members())
        for lost in sorted((self.members - members) & self.peers):
            self.handler.adopt(lost)
        self.members = members
        self.handler.live = members | {self.name}
        self.handler.expire()
        for ifname, frame in self.handler.health_checks(now):
            self.loop.send(ifname, frame)
        self.write_counters()

    def write_counters(self):
        if self.counters_file:
            try:
                write_counters(self.counters_file, self.loop.report())
            except OSError:
                pass                # the run directory went away: the lab is stopping

    def run(self, stop):
        for ifname, frame in self.handler.sync_requests():
            self.loop.send(ifname, frame)
        poller = select.poll()
        for port in self.loop.ports:
            poller.register(port.sock.fileno(), select.POLLIN | select.POLLERR)
        busy = 0
        while not stop():
            if self.loop.step():
                busy += 1
                if busy % BUSY_STEPS:
                    self._flush()
                    continue
            else:
                poller.poll(50)
            self._flush()
            self.housekeeping(self.clock())

    def _flush(self):
        for ifname, frame in self.handler.flush():
            self.loop.send(ifname, frame)

    def close(self):
        self.write_counters()
        try:
            self.store.leave(self.name)
        finally:
            self.loop.close()
            self.store.close()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0]) as f:
        config = json.load(f)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    node = Node(config)
    print(f'ready {config["name"]}', flush=True)
    try:
        node.run(lambda: bool(stopping))
    except KeyboardInterrupt:
        pass
    print(json.dumps(node.loop.report()), file=sys.stderr, flush=True)
    node.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
