"""A userspace cable with one-way delay and random loss, for kernels without netem.

    python -m testbed.fabric.delayline IF_A IF_B --delay-ms 5 --loss-percent 0.5

Runs inside a two-interface Mininet node placed on an underlay cable (testbed/fabric/
links.py) and forwards every frame from one side to the other after the delay, in
both directions, dropping each with the given probability.  Delay is constant, so each
direction is a FIFO.  On SIGTERM it prints its counters as one JSON line on stderr.
"""
import argparse
import collections
import json
import random
import select
import signal
import socket
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_IGNORE_OUTGOING = 23     # do not read back what we send ourselves
MAX_FRAME = 65536
BURST = 256


class DelayQueue:
    """Frames of one direction, each released `delay_s` after it arrived, unless lost."""

    def __init__(self, delay_s, loss, rng):
        self.delay_s, self.loss, self.rng = delay_s, loss, rng
        self.frames = collections.deque()
        self.forwarded = self.dropped = 0

    def put(self, frame, now):
        if self.loss and self.rng.random() < self.loss:
            self.dropped += 1
        else:
            self.frames.append((now + self.delay_s, frame))

    def due(self, now):
        while self.frames and self.frames[0][0] <= now:
            self.forwarded += 1
            yield self.frames.popleft()[1]

    def next_due(self):
        return self.frames[0][0] if self.frames else None


def open_side(ifname):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((ifname, ETH_P_ALL))
    sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    index = socket.if_nametoindex(ifname)
    # struct packet_mreq: ifindex, type, address length, address
    sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP,
                    index.to_bytes(4, sys.byteorder) + PACKET_MR_PROMISC.to_bytes(2, sys.byteorder)
                    + bytes(10))
    sock.setblocking(False)
    return sock


def forward(sides, queues, stop):
    """sides[i] receives into queues[i], which sends out of sides[1 - i]."""
    poller = select.epoll()
    for sock in sides:
        poller.register(sock.fileno(), select.EPOLLIN)
    by_fd = {sock.fileno(): i for i, sock in enumerate(sides)}
    while not stop():
        now = time.monotonic()
        for i, queue in enumerate(queues):
            for frame in queue.due(now):
                try:
                    sides[1 - i].send(frame)
                except BlockingIOError:
                    queue.dropped += 1      # the other side's buffer is full: a real drop
        dues = [d for d in (q.next_due() for q in queues) if d is not None]
        timeout = max(0.0, min(dues) - time.monotonic()) if dues else 0.5
        for fd, _ in poller.poll(timeout):
            i = by_fd[fd]
            arrived = time.monotonic()
            for _ in range(BURST):
                try:
                    queues[i].put(sides[i].recv(MAX_FRAME), arrived)
                except BlockingIOError:
                    break


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('side_a')
    ap.add_argument('side_b')
    ap.add_argument('--delay-ms', type=float, required=True)
    ap.add_argument('--loss-percent', type=float, default=0.0)
    ap.add_argument('--seed', type=int, default=12345)
    args = ap.parse_args(argv)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    rng = random.Random(args.seed)
    queues = [DelayQueue(args.delay_ms / 1000.0, args.loss_percent / 100.0, rng) for _ in range(2)]
    sides = [open_side(args.side_a), open_side(args.side_b)]
    print('ready', flush=True)
    try:
        forward(sides, queues, lambda: bool(stopping))
    except KeyboardInterrupt:
        pass
    print(json.dumps(dict(forwarded=[q.forwarded for q in queues],
                          dropped=[q.dropped for q in queues])), file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
