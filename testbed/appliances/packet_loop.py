"""A packet loop over AF_PACKET with a TPACKET_V2 receive ring, for appliances on dedicated hosts.

    python -m testbed.appliances.packet_loop IF [IF ...] [--handler MODULE:FACTORY]

The kernel writes each received frame into a slot of a ring shared through mmap and hands the
slot to us (status TP_STATUS_USER); we copy the frame out and give the slot back (TP_STATUS_KERNEL).
So receiving costs no syscall while frames keep coming: poll() is called only when the ring is
empty.  In CPython the syscall per packet is the dominant cost (docs/platform.md); TPACKET_V3 would
batch further but holds frames until a block fills or times out, which adds latency.

The per-packet work is the handler, a pure function of bytes:
    handler(frame: bytes, ifname: str, vlan: int | None) -> iterable of (out ifname, frame bytes)
A handler may also have `fast_paths`, {ifname: fast(port, limit) -> (taken, rest, sent, dropped)}
and `bind(ports)`, which the loop calls with its ports ({ifname: port}) first: a fast path drains up
to `limit` slots of that port's receive ring itself (from `port.cursor`, giving each slot back,
moving the cursor on), writes what it handles straight into the transmit rings of the ports it was
given (moving their `tx_cursor` on, one `kick()` a ring a drain), and returns how many slots it took,
the items, (frame, vlan, truncated) as `slot_item` makes them, that it leaves to the handler, and how
many frames it sent and dropped (a transmit ring full): the common case costs no call, no tuple and
one copy from ring to ring a packet.  The fast path's frames of a drain are sent before the handler's.
`frame` never carries an 802.1Q tag: the kernel strips it before packet sockets see the frame and
reports it in the ring slot's header (tp_vlan_tci with TP_STATUS_VLAN_VALID), and a tag still in the
bytes is taken out too, so a handler sees one form.  A frame it returns is sent as it is (a tag in
its bytes is sent).  Frames are sent through the output interface's TPACKET_V2 transmit ring: what
one step produces for an interface goes into its ring and leaves with one send() (PACKET_QDISC_BYPASS
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
PACKET_TX_RING = 13
PACKET_LOSS = 14
PACKET_QDISC_BYPASS = 20
PACKET_IGNORE_OUTGOING = 23
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
TP_STATUS_VLAN_VALID = 0x10
# struct tpacket2_hdr: status, len, snaplen, mac, net, sec, nsec, vlan_tci, vlan_tpid, padding[4]
TPACKET2_HDR = struct.Struct('=IIIHHIIHH4x')
RX_FIELDS = struct.Struct('=IIIH')          # its first four: what receive() needs (tci at 24 if valid)
FRAME_SIZE = 16384          # a 9216-byte underlay frame and the slot header fit (multiple of 16)
FRAME_COUNT = 256           # 4 MiB of ring per interface
BURST = 64                  # frames taken from one ring before looking at the others
POLL_MS = 100               # how often an idle loop looks at its stop flag
ZERO_STATUS = bytes(4)
TP_STATUS_SEND_REQUEST = 1
TX_DATA = 32                # a TX slot's frame starts after the (aligned) tpacket2_hdr
TX_SLOT = struct.Struct('=III')             # tp_status, tp_len, tp_snaplen
VLAN_TPID = b'\x81\x00'


def read_slot(ring, offset):
    """(frame, vlan or None, truncated) of the ring slot at `offset` if it is ours, else None."""
    status, length, snaplen, mac_at = RX_FIELDS.unpack_from(ring, offset)
    if not status & TP_STATUS_USER:
        return None
    start = offset + mac_at
    return slot_item(ring, offset, status, length, bytes(ring[start:start + snaplen]))


def slot_item(ring, offset, status, length, frame):
    """The (frame, vlan, truncated) of a received slot whose status, tp_len and frame bytes are
    known: the VLAN from the slot's header, or a tag still in the bytes taken out."""
    if status & TP_STATUS_VLAN_VALID:
        return frame, ((ring[offset + 25] << 8) | ring[offset + 24]) & 0x0fff, len(frame) < length
    if frame[12:14] == VLAN_TPID:
        vlan, frame = pop_vlan(frame)
        return frame, vlan, len(frame) + 4 < length
    return frame, None, len(frame) < length


def slot_header(n):
    """The header of a transmit-ring slot holding an `n`-byte frame, ready to send (the frame
    follows it at TX_DATA): a slot's status, lengths and frame go in with one store."""
    return TX_SLOT.pack(TP_STATUS_SEND_REQUEST, n, n) + bytes(TX_DATA - TX_SLOT.size)


def release_slot(ring, offset):
    """Gives the slot back to the kernel (one aligned 4-byte store: the kernel reads it whole)."""
    ring[offset:offset + 4] = ZERO_STATUS


class Port:
    """One interface: its socket with the receive ring (and, with `tx_ring`, a transmit ring:
    `transmit(frames)` sends a batch with one syscall instead of one per frame), and where the next
    frame is expected."""

    def __init__(self, ifname, frame_size=FRAME_SIZE, frame_count=FRAME_COUNT, promisc=True, tx_ring=True):
        self.name, self.index = ifname, socket.if_nametoindex(ifname)
        self.frame_size, self.frame_count, self.cursor = frame_size, frame_count, 0
        self.tx_base = self.tx_cursor = 0
        # protocol 0 until bound, so that nothing from other interfaces lands in the ring
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            self.sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
            block = -(-frame_size // mmap.PAGESIZE) * mmap.PAGESIZE     # whole pages, whole frames
            per_block = block // frame_size
            blocks = -(-frame_count // per_block)
            self.frame_count = blocks * per_block
            req = struct.pack('=IIII', block, blocks, frame_size, self.frame_count)
            if tx_ring:         # before any ring: skip a malformed frame to send, do not stop at it
                self.sock.setsockopt(SOL_PACKET, PACKET_LOSS, 1)
            self.sock.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
            self.tx_base = block * blocks if tx_ring else 0      # the kernel maps the TX ring after the RX ring
            if tx_ring:
                self.sock.setsockopt(SOL_PACKET, PACKET_TX_RING, req)
            self.ring = mmap.mmap(self.sock.fileno(), block * blocks + self.tx_base, mmap.MAP_SHARED,
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
        """Up to `limit` (frame, vlan, truncated) from the ring, without a syscall (read_slot and
        release_slot inlined, only the header fields needed unpacked: this runs for every packet)."""
        ring, size, count, cursor, got = self.ring, self.frame_size, self.frame_count, self.cursor, []
        unpack, append = RX_FIELDS.unpack_from, got.append
        for _ in range(limit):
            offset = cursor * size
            if not ring[offset] & TP_STATUS_USER:       # the status word's low byte (little-endian)
                break
            status, length, snaplen, mac_at = unpack(ring, offset)
            start = offset + mac_at
            frame = ring[start:start + snaplen]         # mmap slices are bytes: the one copy
            cursor += 1
            if cursor == count:
                cursor = 0
            if status & TP_STATUS_VLAN_VALID or frame[12:14] == VLAN_TPID:
                append(slot_item(ring, offset, status, length, frame))
            else:
                append((frame, None, snaplen < length))
            ring[offset:offset + 4] = ZERO_STATUS       # after the last read of the slot
        self.cursor = cursor
        return got

    def transmit(self, frames):
        """Puts `frames` in the TX ring and sends them all with one syscall; returns how many were
        dropped (the ring full even after sending what it held, or a frame larger than a slot).
        Each slot goes in with one store, its status and lengths included (the kernel reads a TX slot
        only inside send(); with a TX ring the socket's own send() sends what the ring holds and
        ignores its argument)."""
        ring, size, count, base, cursor = self.ring, self.frame_size, self.frame_count, self.tx_base, self.tx_cursor
        dropped = 0
        for frame in frames:
            off = base + cursor * size
            if ring[off]:                   # the kernel still holds this slot (requested or sending)
                self.kick()
                if ring[off]:
                    dropped += 1
                    continue
            n = TX_DATA + len(frame)
            if n > size:
                dropped += 1
                continue
            ring[off:off + n] = slot_header(len(frame)) + frame
            cursor += 1
            if cursor == count:
                cursor = 0
        self.tx_cursor = cursor
        self.kick()
        return dropped

    def kick(self):
        """Has the kernel send what the TX ring holds."""
        try:
            self.sock.send(b'')
        except BlockingIOError:
            pass

    def send(self, frame):
        """Sends one frame now (OSError if it cannot)."""
        if not self.tx_base:
            return self.sock.send(frame)
        if self.transmit((frame,)):
            raise BlockingIOError('transmit ring full or frame larger than a slot')

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
    .kernel_drops(), .close(); with a true .tx_base also .transmit(frames)), so tests can give it
    fakes."""

    def __init__(self, ports, handler):
        self.handler, self.counters, self.ports = handler, Counter(), list(ports)
        self.by_name = {p.name: p for p in self.ports}
        self.by_name.update({p.index: p for p in self.ports})
        # a port with a TX ring collects a step's frames and sends them together; others send each
        self.outboxes = {port.name: [] for port in self.ports if getattr(port, 'tx_base', 0)}
        self.senders = {key: self.outboxes[port.name].append if port.name in self.outboxes else port.sock.send
                        for key, port in self.by_name.items()}
        self.batched = [(self.by_name[name], box) for name, box in self.outboxes.items()]
        # a fast path drains a real ring itself: ports without one (tests' fakes) give the handler all
        self.fast_paths = {name: fast for name, fast in (getattr(handler, 'fast_paths', None) or {}).items()
                           if getattr(self.by_name.get(name), 'ring', None) is not None}
        if self.fast_paths:
            handler.bind({p.name: p for p in self.ports})

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
        """Handles what the rings hold (up to `burst` per port); returns how many frames.  What a
        port's frames produce is collected, then each frame is appended to its port's outbox (or
        sent by the socket's bound `send`); counts are kept in locals and added once per step."""
        handled = sent = 0
        handler, senders, counters, fast_paths = self.handler, self.senders, self.counters, self.fast_paths
        for port in self.ports:
            name = port.name
            fast = fast_paths.get(name)
            if fast is not None:
                taken, items, done, dropped = fast(port, burst)
                if not taken:
                    continue
                handled += taken
                sent += done
                if dropped:
                    counters['send-error'] += dropped
            else:
                items = port.receive(burst)
                if not items:
                    continue
                handled += len(items)
            outs = []
            for frame, vlan, truncated in items:
                if truncated:
                    counters['truncated'] += 1      # larger than a ring slot: never half a frame
                    continue
                try:
                    out = handler(frame, name, vlan)
                except Exception:                   # noqa: BLE001  one bad frame must not stop the loop
                    counters['handler-error'] += 1
                    continue
                if out:
                    outs += out
            for out_if, data in outs:
                send = senders.get(out_if)
                if send is None:
                    counters['unknown-interface'] += 1
                    continue
                try:
                    send(data)
                    sent += 1
                except OSError:                     # BlockingIOError too: the link's buffer is full
                    counters['send-error'] += 1
        sent -= self._transmit()
        if handled:
            counters['received'] += handled
        if sent:
            counters['sent'] += sent
        return handled

    def _transmit(self):
        """Sends every outbox; returns how many of its frames were dropped (counted as send errors)."""
        dropped = 0
        for port, box in self.batched:
            if box:
                try:
                    dropped += port.transmit(box)
                except OSError:
                    dropped += len(box)
                box.clear()
        if dropped:
            self.counters['send-error'] += dropped
        return dropped

    def send(self, out_if, data):
        send = self.senders.get(out_if)
        if send is None:
            self.counters['unknown-interface'] += 1
            return
        try:
            send(data)
            self.counters['sent'] += 1
        except OSError:
            self.counters['send-error'] += 1        # the link's buffer is full: a real drop
        dropped = self._transmit()
        if dropped:
            self.counters['sent'] -= dropped

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
