"""A packet loop over AF_PACKET with a TPACKET_V2 receive ring, for appliances on dedicated hosts.

    python -m testbed.appliances.packet_loop IF [IF ...] [--handler MODULE:FACTORY]

The kernel writes each received frame into a slot of a ring shared through mmap and hands the
slot to us (status TP_STATUS_USER); we copy the frame out and give the slot back (TP_STATUS_KERNEL).
So receiving costs no syscall while frames keep coming: poll() is called only when the ring is
empty.  In CPython the syscall per packet is the dominant cost (docs/platform.md); TPACKET_V3 would
batch further but holds frames until a block fills or times out, which adds latency.

The per-packet work is the handler, a pure function of bytes:
    handler(frame: bytes, ifname: str, vlan: int | None) -> iterable of (out ifname, frame bytes)
`frame` never carries an 802.1Q tag: the kernel strips it before packet sockets see the frame and
reports it in the ring slot's header (tp_vlan_tci with TP_STATUS_VLAN_VALID), and a tag still in the
bytes is taken out too, so a handler sees one form.  A frame it returns is sent as it is (a tag in
its bytes is sent).  Frames are sent with send() on the output interface's socket (PACKET_QDISC_BYPASS
where the kernel has it: an appliance has no queueing discipline to honour).  We never read back
what is sent on our interfaces (PACKET_IGNORE_OUTGOING).  On SIGTERM the loop stops and prints its
counters, and the handler's `counters` if it has them, as one JSON line on stderr.

The delay line (testbed/fabric/delayline.py) could run on this loop later; it is not moved here.
"""
import argparse
import importlib
import json
import mmap
import select
import signal
import socket
import struct
import sys
from collections import Counter

from testbed.appliances.packets import pop_vlan, push_vlan

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
TPACKET_V2 = 1
PACKET_QDISC_BYPASS = 20
PACKET_IGNORE_OUTGOING = 23
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
TP_STATUS_VLAN_VALID = 0x10
# struct tpacket2_hdr: status, len, snaplen, mac, net, sec, nsec, vlan_tci, vlan_tpid, padding[4]
TPACKET2_HDR = struct.Struct('=IIIHHIIHH4x')
FRAME_SIZE = 16384          # a 9216-byte underlay frame and the slot header fit (multiple of 16)
FRAME_COUNT = 256           # 4 MiB of ring per interface
BURST = 64                  # frames taken from one ring before looking at the others
POLL_MS = 100               # how often an idle loop looks at its stop flag


def read_slot(ring, offset):
    """(frame, vlan or None, truncated) of the ring slot at `offset` if it is ours, else None."""
    status, length, snaplen, mac_at, _, _, _, tci, _ = TPACKET2_HDR.unpack_from(ring, offset)
    if not status & TP_STATUS_USER:
        return None
    start = offset + mac_at
    frame = bytes(ring[start:start + snaplen])
    vlan = tci & 0x0fff if status & TP_STATUS_VLAN_VALID else None
    if vlan is None and frame[12:14] == b'\x81\x00':
        vlan, frame = pop_vlan(frame)       # VLAN offload off: the tag is still in the bytes
    return frame, vlan, snaplen < length


def release_slot(ring, offset):
    """Gives the slot back to the kernel (one aligned 4-byte store: the kernel reads it whole)."""
    ring[offset:offset + 4] = b'\0\0\0\0'


class Port:
    """One interface: its socket with the receive ring, and where the next frame is expected."""

    def __init__(self, ifname, frame_size=FRAME_SIZE, frame_count=FRAME_COUNT, promisc=True):
        self.name, self.index = ifname, socket.if_nametoindex(ifname)
        self.frame_size, self.frame_count, self.cursor = frame_size, frame_count, 0
        # protocol 0 until bound, so that nothing from other interfaces lands in the ring
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            self.sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
            block = -(-frame_size // mmap.PAGESIZE) * mmap.PAGESIZE     # whole pages, whole frames
            per_block = block // frame_size
            blocks = -(-frame_count // per_block)
            self.frame_count = blocks * per_block
            self.sock.setsockopt(SOL_PACKET, PACKET_RX_RING,
                                 struct.pack('=IIII', block, blocks, frame_size, self.frame_count))
            self.ring = mmap.mmap(self.sock.fileno(), block * blocks, mmap.MAP_SHARED,
                                  mmap.PROT_READ | mmap.PROT_WRITE)
            self.sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            try:
                self.sock.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
            except OSError:
                pass                    # older kernels: sent through the qdisc, still works
            self.sock.bind((ifname, ETH_P_ALL))
            if promisc:
                self.sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, struct.pack(
                    '=iHH8s', self.index, PACKET_MR_PROMISC, 0, b''))
            self.sock.setblocking(False)
        except BaseException:
            self.sock.close()
            raise

    def receive(self, limit):
        """Up to `limit` (frame, vlan, truncated) from the ring, without a syscall."""
        ring, size, got = self.ring, self.frame_size, []
        while len(got) < limit:
            offset = self.cursor * size
            slot = read_slot(ring, offset)
            if slot is None:
                break
            got.append(slot)
            release_slot(ring, offset)
            self.cursor = (self.cursor + 1) % self.frame_count
        return got

    def kernel_drops(self):
        """Frames the kernel dropped because the ring was full, since the last call."""
        _, drops = struct.unpack('=II', self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        return drops

    def close(self):
        self.ring.close()
        self.sock.close()


class PacketLoop:
    """Receives on every port, calls the handler, sends what it returns.  `counters` counts frames
    received, sent and lost, the latter by reason.  `PacketLoop.open(interfaces, handler)` makes the
    ports; the constructor takes ready ones (anything with .name, .index, .sock, .receive(limit),
    .kernel_drops(), .close()), so tests can give it fakes."""

    def __init__(self, ports, handler):
        self.handler, self.counters, self.ports = handler, Counter(), list(ports)
        self.by_name = {p.name: p for p in self.ports}
        self.by_name.update({p.index: p for p in self.ports})

    @classmethod
    def open(cls, interfaces, handler, **port_options):
        ports = []
        try:
            for name in interfaces:
                ports.append(Port(name, **port_options))
        except BaseException:
            for port in ports:
                port.close()
            raise
        return cls(ports, handler)

    def step(self, burst=BURST):
        """Handles what the rings hold (up to `burst` per port); returns how many frames."""
        handled, counters, handler = 0, self.counters, self.handler
        for port in self.ports:
            for frame, vlan, truncated in port.receive(burst):
                handled += 1
                counters['received'] += 1
                if truncated:
                    counters['truncated'] += 1      # larger than a ring slot: never half a frame
                    continue
                try:
                    out = handler(frame, port.name, vlan) or ()
                except Exception:                   # noqa: BLE001  one bad frame must not stop the loop
                    counters['handler-error'] += 1
                    continue
                for out_if, data in out:
                    self.send(out_if, data)
        return handled

    def send(self, out_if, data):
        port = self.by_name.get(out_if)
        if port is None:
            self.counters['unknown-interface'] += 1
            return
        try:
            port.sock.send(data)
            self.counters['sent'] += 1
        except (BlockingIOError, OSError):
            self.counters['send-error'] += 1        # the link's buffer is full: a real drop

    def run(self, stop, poll_ms=POLL_MS):
        poller = select.poll()
        for port in self.ports:
            poller.register(port.sock.fileno(), select.POLLIN | select.POLLERR)
        while not stop():
            if not self.step():
                poller.poll(poll_ms)

    def report(self):
        counters = dict(self.counters)
        counters['kernel-drop'] = sum(p.kernel_drops() for p in self.ports)
        handler_counters = getattr(self.handler, 'counters', None)
        if handler_counters is not None:
            counters['handler'] = dict(handler_counters)
        return counters

    def close(self):
        for port in self.ports:
            port.close()


def cable(interfaces):
    """A handler that joins two interfaces like a cable, VLAN tags included (the benchmark's and
    tests' handler)."""
    a, b = interfaces
    other = {a: b, b: a}

    def handler(frame, ifname, vlan):
        return [(other[ifname], frame if vlan is None else push_vlan(frame, vlan))]
    return handler


def load_factory(spec):
    module, _, name = spec.partition(':')
    return getattr(importlib.import_module(module), name)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('interfaces', nargs='+')
    ap.add_argument('--handler', default=f'{__name__}:cable',
                    help='MODULE:FACTORY; FACTORY(interfaces) returns the handler (default: a cable)')
    ap.add_argument('--frames', type=int, default=FRAME_COUNT, help='ring slots per interface')
    args = ap.parse_args(argv)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    loop = PacketLoop.open(args.interfaces, load_factory(args.handler)(args.interfaces), frame_count=args.frames)
    print('ready', flush=True)
    try:
        loop.run(lambda: bool(stopping))
    except KeyboardInterrupt:
        pass
    print(json.dumps(loop.report()), file=sys.stderr, flush=True)
    loop.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
