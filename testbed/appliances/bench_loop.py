"""Micro-benchmark (not a test): packets per second through one packet loop against two reference
forwarders, in the same run, on veths in a scratch namespace (vlt_*, deleted after).

    python -m testbed.appliances.bench_loop [--seconds 2] [--rounds 1] [--size 64]
    python -m testbed.appliances.bench_loop --raw-socket IF_IN IF_OUT   # a reference forwarder
    python -m testbed.appliances.bench_loop --ring-copy IF_IN IF_OUT    # the other

Frames are offered on vlt_*b0 through a transmit ring, as fast as the kernel takes them; the
forwarder under test joins vlt_*a0 to vlt_*a1; what arrives on vlt_*b1 (its rx_packets) is what
was forwarded, for each, and the forwarder's CPU time (user + system, /proc) over those frames is
its cost a packet.  The references (`REFERENCES`):
- raw-socket: the minimal raw-socket forwarder, `send(recv())` on two AF_PACKET sockets, a syscall
  each way a frame: what a Python forwarder costs without rings;
- ring-copy: the loop's own rings and socket options, each frame copied from slot to slot and
  nothing else: the floor of any Python loop on these rings, so that a ratio to it is the cost of
  the work between the rings alone.
The variants alternate (A B C A B C ...) so that a change in the machine's load hits all.  The
ratios are the numbers to keep (for the `edge` experiment); absolute numbers depend on the machine
and on whatever else runs.  It needs root and two mostly idle cores: run it only when the machine
is quiet.
"""
import argparse
import json
import os
import select
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from testbed.appliances import packet_loop as pl
from testbed.appliances import processes
from testbed.appliances.packets import ETH_P_IP, build_eth, mac
from testbed.appliances.scratch_netns import ScratchNetns

REPO = Path(__file__).resolve().parents[2]


def ring_copy(rx, tx, limit):
    """Moves up to `limit` frames from `rx`'s receive ring into `tx`'s transmit ring, one copy each
    (slot to slot), and sends them with one syscall; returns how many it took.  The reference
    forwarder's whole work: the loop's ring technique with nothing in between."""
    src, dst, unpack, pack = rx.ring, tx.ring, pl.RX_FIELDS.unpack_from, pl.TX_SLOT.pack_into
    size, count, cursor = rx.frame_size, rx.frame_count, rx.cursor
    tsize, tcount, base, tcursor = tx.frame_size, tx.frame_count, tx.tx_base, tx.tx_cursor
    data, largest, zero = pl.TX_DATA, tsize - pl.TX_DATA, pl.ZERO_STATUS
    user, request = pl.TP_STATUS_USER, pl.TP_STATUS_SEND_REQUEST
    first, last = cursor * size, min(cursor + limit, count) * size     # up to the ring's end at most
    for off in range(first, last, size):
        status, _, n, mac_at = unpack(src, off)
        if not status & user:
            last = off
            break
        t = base + tcursor * tsize
        if dst[t]:                          # the kernel still holds the slot: send what is queued
            tx.kick()
        if not dst[t] and n <= largest:     # else dropped, as the loop drops it
            start = off + mac_at
            dst[t + data:t + data + n] = src[start:start + n]
            pack(dst, t, request, n, n)
            tcursor = tcursor + 1 if tcursor + 1 < tcount else 0
        src[off:off + 4] = zero
    taken = (last - first) // size
    rx.cursor, tx.tx_cursor = (cursor + taken) % count, tcursor
    if taken:
        tx.kick()
    return taken


def ring_forwarder(if_in, if_out):
    """The ring-copy reference: frames from one interface to the other (one direction) through the
    same rings and socket options as the loop's ports (a TPACKET_V2 receive ring on one, a transmit
    ring with PACKET_QDISC_BYPASS on the other), copied slot to slot: no parsing, no handler."""
    rx, tx = pl.Port(if_in, tx_ring=False), pl.Port(if_out)
    stopping, forwarded = [], 0
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    poller = select.poll()
    poller.register(rx.sock.fileno(), select.POLLIN | select.POLLERR)
    print('ready', flush=True)
    while not stopping:
        n = ring_copy(rx, tx, pl.BURST)
        if n:
            forwarded += n
        else:
            poller.poll(pl.POLL_MS)
    print(json.dumps({'sent': forwarded}), file=sys.stderr, flush=True)


def raw_socket_forwarder(if_in, if_out):
    """The raw-socket reference: `send(recv())` a frame, on blocking AF_PACKET sockets with the
    loop's socket options (no rings).  Blocking, without a timeout: Python would poll() before each
    recv() otherwise; SIGTERM ends the recv() by raising."""
    rx, tx = (socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0) for _ in range(2))
    for sock, ifname in ((rx, if_in), (tx, if_out)):
        sock.setsockopt(pl.SOL_PACKET, pl.PACKET_IGNORE_OUTGOING, 1)
        sock.setsockopt(pl.SOL_PACKET, pl.PACKET_QDISC_BYPASS, 1)
        sock.bind((ifname, pl.ETH_P_ALL))
    forwarded, recv, send = 0, rx.recv, tx.send

    def stop(*_):
        raise InterruptedError
    signal.signal(signal.SIGTERM, stop)
    print('ready', flush=True)
    try:
        while True:
            send(recv(65536))
            forwarded += 1
    except InterruptedError:
        pass
    print(json.dumps({'sent': forwarded}), file=sys.stderr, flush=True)


REFERENCES = {'raw-socket': raw_socket_forwarder, 'ring-copy': ring_forwarder}


def reference_command(variant, if_in, if_out):
    """How to start reference forwarder `variant` (a name of REFERENCES) from `if_in` to `if_out`."""
    return [sys.executable, '-m', 'testbed.appliances.bench_loop', f'--{variant}', if_in, if_out]


def offer(ns, ifname, frame, seconds):
    """Sends `frame` out of `ifname` for `seconds` through a transmit ring (every slot holds the
    frame already: a batch costs one status store a frame and one syscall), faster than either
    forwarder takes them; returns how many were sent."""
    with ns.entered():
        port = pl.Port(ifname, frame_count=pl.BURST * 4, promisc=False)
    ring, size, base, n = port.ring, port.frame_size, port.tx_base, len(frame)
    for i in range(port.frame_count):
        off = base + i * size
        ring[off + pl.TX_DATA:off + pl.TX_DATA + n] = frame
    sent, cursor, end = 0, 0, time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            for _ in range(pl.BURST):
                off = base + cursor * size
                if ring[off]:
                    break                   # the kernel has not sent it yet
                pl.TX_SLOT.pack_into(ring, off, pl.TP_STATUS_SEND_REQUEST, n, n)
                cursor = cursor + 1 if cursor + 1 < port.frame_count else 0
                sent += 1
            port.kick()
    finally:
        port.close()
    return sent


def cpu_seconds(pid):
    """User and system CPU time of process `pid` so far (what its softirq work on the way out is
    charged to as well, on a kernel without IRQ time accounting)."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rpartition(')')[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def delivered(ns, ifname):
    """Frames the far end of the output link has received so far (what was really forwarded, not
    what the forwarder believes it sent)."""
    return int(ns.run('cat', f'/sys/class/net/{ifname}/statistics/rx_packets').stdout)


def measure(ns, proc, frame, seconds):
    """Offers `frame` on the first pair's b end for `seconds` to the started forwarder `proc`;
    returns {offered_pps, forwarded_pps, cpu_us_per_packet} (what reached the second pair's b end)."""
    (_, b0), (_, b1) = ns.pairs
    processes.wait_ready(proc)
    before, cpu = delivered(ns, b1), cpu_seconds(proc.pid)
    offered = offer(ns, b0, frame, seconds)
    time.sleep(0.2)             # let the forwarder drain what it holds
    forwarded = delivered(ns, b1) - before
    cpu = cpu_seconds(proc.pid) - cpu
    return dict(offered_pps=offered / seconds, forwarded_pps=forwarded / seconds,
                cpu_us_per_packet=cpu * 1e6 / forwarded if forwarded else float('nan'))


def one_run(ns, variant, frame, seconds):
    (a0, _), (a1, _) = ns.pairs
    cmd = (reference_command(variant, a0, a1) if variant in REFERENCES
           else [sys.executable, '-m', 'testbed.appliances.packet_loop', a0, a1])
    proc = ns.popen(*cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        row = measure(ns, proc, frame, seconds)
    finally:
        counters = processes.stop(proc)
    return dict(variant=variant, reported_pps=counters.get('sent', 0) / seconds, **row)


def ratio(rows, tested, reference):
    """pps of variant `tested` / pps of variant `reference` (medians of their rounds), or None."""
    got = {v: [r['forwarded_pps'] for r in rows if r['variant'] == v] for v in (tested, reference)}
    if not got[tested] or not got[reference] or not statistics.median(got[reference]):
        return None
    return statistics.median(got[tested]) / statistics.median(got[reference])


def cpu_ratio(rows, tested, reference):
    """Reference CPU a packet / tested CPU a packet (medians of their rounds): the tested
    forwarder's packets per CPU second against the reference's, which a sender that cannot
    saturate the reference does not cap."""
    cost = {v: [r['cpu_us_per_packet'] for r in rows if r['variant'] == v] for v in (tested, reference)}
    if not cost[tested] or not cost[reference]:
        return None
    return statistics.median(cost[reference]) / statistics.median(cost[tested])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in REFERENCES:
        ap.add_argument(f'--{name}', nargs=2, metavar=('IF_IN', 'IF_OUT'), help=f'run the {name} reference forwarder')
    ap.add_argument('--seconds', type=float, default=2.0)
    ap.add_argument('--rounds', type=int, default=1)
    ap.add_argument('--size', type=int, default=64, help='frame size in bytes')
    args = ap.parse_args(argv)
    for name, forwarder in REFERENCES.items():
        interfaces = getattr(args, name.replace('-', '_'))
        if interfaces:
            forwarder(*interfaces)
            return 0
    frame = build_eth(mac('02:00:00:00:00:0b'), mac('02:00:00:00:00:0a'), ETH_P_IP, bytes(max(46, args.size - 14)))
    rows = []
    with ScratchNetns(pairs=2, tag=f"{os.getpid()}m") as ns:
        for _ in range(args.rounds):
            for variant in ('loop', *REFERENCES):
                rows.append(one_run(ns, variant, frame, args.seconds))
                print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({f'loop_over_{name}': {'pps': ratio(rows, 'loop', name), 'per_cpu': cpu_ratio(rows, 'loop', name)}
                      for name in REFERENCES}), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
