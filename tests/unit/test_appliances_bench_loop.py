"""The micro-benchmark helper: its arithmetic, and one very short smoke run with root (no timing asserted)."""
import mmap
import os
import shutil

import pytest

from testbed.appliances import bench_loop
from testbed.appliances import packet_loop as pl
from testbed.appliances.packets import ETH_P_IP, build_eth, mac
from testbed.appliances.scratch_netns import ScratchNetns


def test_ratio_is_of_the_medians_of_each_variants_rounds():
    rows = [dict(variant='loop', forwarded_pps=p) for p in (90.0, 70.0, 95.0)] + \
        [dict(variant='ring-copy', forwarded_pps=p) for p in (100.0, 120.0)] + \
        [dict(variant='raw-socket', forwarded_pps=0.0)]
    assert bench_loop.ratio(rows, 'loop', 'ring-copy') == pytest.approx(90 / 110)
    assert bench_loop.ratio(rows, 'loop', 'raw-socket') is None         # nothing forwarded: no ratio
    assert bench_loop.ratio(rows[:3], 'loop', 'ring-copy') is None


def test_cpu_ratio_is_the_reference_cost_over_the_loop_cost():
    rows = [dict(variant='loop', cpu_us_per_packet=c) for c in (2.0, 2.5, 9.0)] + \
        [dict(variant='ring-copy', cpu_us_per_packet=c) for c in (2.0, 1.5)]
    assert bench_loop.cpu_ratio(rows, 'loop', 'ring-copy') == pytest.approx(1.75 / 2.5)
    assert bench_loop.cpu_ratio(rows[:3], 'loop', 'ring-copy') is None


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which('ip') is None, reason='needs root and iproute2')
@pytest.mark.parametrize('variant', ['loop', *bench_loop.REFERENCES])
def test_both_forwarders_forward(variant):
    frame = build_eth(mac('02:00:00:00:00:0b'), mac('02:00:00:00:00:0a'), ETH_P_IP, bytes(46))
    with ScratchNetns(pairs=2, tag=f'{os.getpid()}s') as ns:
        row = bench_loop.one_run(ns, variant, frame, 0.2)
    assert row['variant'] == variant and row['offered_pps'] > 0 and row['forwarded_pps'] > 0


class RingPort:
    """A port's rings in anonymous memory: RX slots then TX slots, as the kernel maps them."""

    def __init__(self, count=4, size=256):
        self.frame_size, self.frame_count, self.cursor, self.tx_cursor = size, count, 0, 0
        self.tx_base, self.kicks = size * count, 0
        self.ring = mmap.mmap(-1, 2 * size * count)

    def kick(self):
        self.kicks += 1

    def put(self, frame):
        off = self.cursor * self.frame_size
        pl.TPACKET2_HDR.pack_into(self.ring, off, pl.TP_STATUS_USER, len(frame), len(frame), 66, 80, 0, 0, 0, 0)
        self.ring[off + 66:off + 66 + len(frame)] = frame
        self.cursor = (self.cursor + 1) % self.frame_count

    def sent(self):
        """The TX slots requested, in ring order, as (status, frame)."""
        out = []
        for i in range(self.frame_count):
            off = self.tx_base + i * self.frame_size
            status, n, _ = pl.TX_SLOT.unpack_from(self.ring, off)
            out.append((status, bytes(self.ring[off + pl.TX_DATA:off + pl.TX_DATA + n])))
        return out


def test_ring_copy_moves_frames_slot_to_slot_gives_the_slots_back_and_sends_once():
    rx, tx = RingPort(), RingPort()
    frames = [bytes([i]) * 60 for i in range(3)]
    for f in frames:
        rx.put(f)
    rx.cursor = 0
    assert bench_loop.ring_copy(rx, tx, 64) == 3 and tx.kicks == 1
    assert tx.sent()[:3] == [(pl.TP_STATUS_SEND_REQUEST, f) for f in frames] and tx.sent()[3][0] == 0
    assert all(rx.ring[i * rx.frame_size] == pl.TP_STATUS_KERNEL for i in range(4))
    assert (rx.cursor, tx.tx_cursor) == (3, 3) and bench_loop.ring_copy(rx, tx, 64) == 0


def test_ring_copy_drops_a_frame_when_the_kernel_holds_every_slot():
    rx, tx = RingPort(count=2), RingPort(count=2)
    for i in range(2):
        pl.TX_SLOT.pack_into(tx.ring, tx.tx_base + i * tx.frame_size, pl.TP_STATUS_SEND_REQUEST, 1, 1)
    rx.put(bytes(60))
    rx.cursor = 0
    assert bench_loop.ring_copy(rx, tx, 64) == 1 and rx.ring[0] == pl.TP_STATUS_KERNEL and tx.tx_cursor == 0
