"""Micro-benchmark (not a test): packets per second through one packet loop against a minimal
raw-socket forwarder, in the same run, on veths in a scratch namespace (vlt_*, deleted after).

    python -m testbed.appliances.bench_loop [--seconds 2] [--rounds 1] [--size 64]
    python -m testbed.appliances.bench_loop --minimal IF_IN IF_OUT     # the reference forwarder

Frames are offered on vlt_*b0 as fast as one Python sender can; the forwarder under test joins
vlt_*a0 to vlt_*a1; what arrives on vlt_*b1 (its rx_packets) is what was forwarded, for both.
The variants alternate (A B A B ...) so that a
change in the machine's load hits both.  The ratio is the number to keep (for the `edge`
experiment); absolute numbers depend on the machine and on whatever else runs.  It needs root and
two mostly idle cores: run it only when the machine is quiet.
"""
import argparse
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from testbed.appliances import processes
from testbed.appliances.packet_loop import PACKET_QDISC_BYPASS, SOL_PACKET
from testbed.appliances.packets import ETH_P_IP, build_eth, mac
from testbed.appliances.scratch_netns import ScratchNetns

ETH_P_ALL = 0x0003
REPO = Path(__file__).resolve().parents[2]


def minimal(if_in, if_out):
    """The reference: recv on one socket, send on another, nothing else (one direction).  Like the
    loop it sends with PACKET_QDISC_BYPASS; its receive timeout is the kernel's (SO_RCVTIMEO), not
    Python's settimeout(), which would add a poll() before every recv()."""
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    rx.bind((if_in, ETH_P_ALL))
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    tx.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
    tx.bind((if_out, 0))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack('ll', 0, 200_000))
    stopping, forwarded = [], 0
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    print('ready', flush=True)
    recv, send = rx.recv, tx.send
    while not stopping:
        try:
            send(recv(65536))
            forwarded += 1
        except (TimeoutError, BlockingIOError, InterruptedError):
            pass
        except OSError:
            pass                    # a full link: dropped, as the loop counts a send-error
    print(json.dumps({'sent': forwarded}), file=sys.stderr, flush=True)


def offer(ns, ifname, frame, seconds):
    """Sends `frame` out of `ifname` for `seconds`, as fast as it goes; returns how many."""
    with ns.entered():
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    s.bind((ifname, 0))
    sent, end = 0, time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            for _ in range(256):
                try:
                    s.send(frame)
                    sent += 1
                except OSError:
                    pass
    finally:
        s.close()
    return sent


def delivered(ns, ifname):
    """Frames the far end of the output link has received so far (what was really forwarded, not
    what the forwarder believes it sent)."""
    return int(ns.run('cat', f'/sys/class/net/{ifname}/statistics/rx_packets').stdout)


def one_run(ns, variant, frame, seconds):
    (a0, b0), (a1, b1) = ns.pairs
    cmd = ([sys.executable, '-m', 'testbed.appliances.bench_loop', '--minimal', a0, a1] if variant == 'minimal'
           else [sys.executable, '-m', 'testbed.appliances.packet_loop', a0, a1])
    proc = ns.popen(*cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        processes.wait_ready(proc)
        before = delivered(ns, b1)
        offered = offer(ns, b0, frame, seconds)
        time.sleep(0.2)             # let the forwarder drain what it holds
        forwarded = delivered(ns, b1) - before
    finally:
        counters = processes.stop(proc)
    return dict(variant=variant, offered_pps=offered / seconds, forwarded_pps=forwarded / seconds,
                reported_pps=counters.get('sent', 0) / seconds)


def ratio(rows):
    """Packet loop pps / minimal forwarder pps, from the sums of their rounds."""
    total = {v: sum(r['forwarded_pps'] for r in rows if r['variant'] == v) for v in ('loop', 'minimal')}
    return total['loop'] / total['minimal'] if total['minimal'] else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--minimal', nargs=2, metavar=('IF_IN', 'IF_OUT'))
    ap.add_argument('--seconds', type=float, default=2.0)
    ap.add_argument('--rounds', type=int, default=1)
    ap.add_argument('--size', type=int, default=64, help='frame size in bytes')
    args = ap.parse_args(argv)
    if args.minimal:
        minimal(*args.minimal)
        return 0
    frame = build_eth(mac('02:00:00:00:00:0b'), mac('02:00:00:00:00:0a'), ETH_P_IP, bytes(max(46, args.size - 14)))
    rows = []
    with ScratchNetns(pairs=2, tag=f"{os.getpid()}m") as ns:
        for _ in range(args.rounds):
            for variant in ('loop', 'minimal'):
                rows.append(one_run(ns, variant, frame, args.seconds))
                print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({'loop_over_minimal': ratio(rows)}), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
