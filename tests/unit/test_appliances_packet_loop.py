"""The packet loop: ring slots and the handler's plumbing without root; the real TPACKET_V2 ring on
veths in a namespace of our own (vlt_*, deleted afterwards) with root.  No lab, so no lab lock."""
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from testbed.appliances import packet_loop as pl
from testbed.appliances import processes
from testbed.appliances.packets import ETH_P_IP, build_eth, mac, push_vlan
from testbed.appliances.scratch_netns import ScratchNetns

REPO = Path(__file__).resolve().parents[2]
FRAME = build_eth(mac('02:00:00:00:00:0b'), mac('02:00:00:00:00:0a'), ETH_P_IP, bytes(range(46)))
root_only = pytest.mark.skipif(os.geteuid() != 0 or shutil.which('ip') is None,
                               reason='needs root and iproute2 (a network namespace and veths)')


def slot(ring, offset, frame, status=pl.TP_STATUS_USER, tci=0, length=None, mac_at=80):
    pl.TPACKET2_HDR.pack_into(ring, offset, status, length or len(frame), len(frame), mac_at, mac_at + 14,
                              0, 0, tci, 0)
    ring[offset + mac_at:offset + mac_at + len(frame)] = frame


def test_read_slot_only_takes_user_slots_and_reports_the_vlan_and_truncation():
    ring = bytearray(4 * 256)
    slot(ring, 0, FRAME, status=pl.TP_STATUS_USER | pl.TP_STATUS_VLAN_VALID, tci=0x2000 | 101)
    slot(ring, 256, FRAME, status=pl.TP_STATUS_KERNEL)
    slot(ring, 512, push_vlan(FRAME, 7))
    slot(ring, 768, FRAME, length=9000)
    assert pl.read_slot(ring, 0) == (FRAME, 101, False)
    assert pl.read_slot(ring, 256) is None
    assert pl.read_slot(ring, 512) == (FRAME, 7, False)
    assert pl.read_slot(ring, 768) == (FRAME, None, True)
    pl.release_slot(ring, 0)
    assert pl.read_slot(ring, 0) is None


class FakeSock:
    def __init__(self, fail=False):
        self.sent, self.fail = [], fail

    def send(self, data):
        if self.fail:
            raise BlockingIOError
        self.sent.append(data)


class FakePort:
    def __init__(self, name, index, frames=(), fail=False):
        self.name, self.index, self.frames, self.sock = name, index, list(frames), FakeSock(fail)

    def receive(self, limit):
        got, self.frames = self.frames[:limit], self.frames[limit:]
        return got

    def kernel_drops(self):
        return 2

    def close(self):
        pass


def test_step_calls_the_handler_and_sends_what_it_returns_counting_everything():
    calls = []

    def handler(frame, ifname, vlan):
        calls.append((ifname, vlan))
        if frame == b'boom':
            raise ValueError
        return {b'to-b': [('b', frame)], b'to-2': [(2, frame)], b'nowhere': [('zz', frame)]}.get(frame, [])
    handler.counters = {'edge-drop': 1}
    a = FakePort('a', 1, [(b'to-b', 5, False), (b'x', None, True), (b'boom', None, False), (b'drop', None, False),
                          (b'nowhere', None, False)])
    b = FakePort('b', 2, [(b'to-2', None, False)], fail=False)
    loop = pl.PacketLoop([a, b], handler)
    assert loop.step(burst=3) == 4 and loop.step() == 2 and loop.step() == 0
    assert b.sock.sent == [b'to-b', b'to-2'] and calls[0] == ('a', 5)
    report = loop.report()
    assert report == {'received': 6, 'sent': 2, 'truncated': 1, 'handler-error': 1, 'unknown-interface': 1,
                      'kernel-drop': 4, 'handler': {'edge-drop': 1}}


def test_a_full_link_counts_a_send_error():
    a = FakePort('a', 1, [(FRAME, None, False)], fail=True)
    loop = pl.PacketLoop([a], lambda f, i, v: [('a', f)])
    loop.step()
    assert loop.counters['send-error'] == 1 and 'sent' not in loop.counters


def test_cable_handler_and_factory_loading():
    h = pl.load_factory('testbed.appliances.packet_loop:cable')(['x', 'y'])
    assert h(FRAME, 'x', None) == [('y', FRAME)] and h(FRAME, 'y', 3) == [('x', push_vlan(FRAME, 3))]


def raw(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(pl.ETH_P_ALL))
    s.bind((ifname, 0))
    return s


def collect(port, want, timeout=5.0):
    got, deadline = [], time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += port.receive(want)
        time.sleep(0.01)
    return got


@root_only
def test_the_ring_on_veths_forwards_frames_with_their_vlan_and_never_reads_its_own():
    with ScratchNetns(pairs=2) as ns:
        (a0, b0), (a1, b1) = ns.pairs
        with ns.entered():
            loop = pl.PacketLoop.open([a0, a1], pl.cable([a0, a1]), frame_count=16)
            sender, receiver = raw(b0), pl.Port(b1, frame_count=64)
        stop = threading.Event()
        thread = threading.Thread(target=loop.run, args=(stop.is_set, 20))
        thread.start()
        try:
            # more frames than the ring has slots: the cursor wraps around
            frames = [FRAME[:-1] + bytes([i]) for i in range(40)]
            for i, frame in enumerate(frames):
                sender.send(push_vlan(frame, 101) if i % 2 else frame)
                time.sleep(0.002)
            got = collect(receiver, len(frames))
        finally:
            stop.set()
            thread.join()
            report = loop.report()
            loop.close()
            receiver.close()
            sender.close()
        assert [(f, v) for f, v, _ in got] == [(f, 101 if i % 2 else None) for i, f in enumerate(frames)]
        assert report['received'] == len(frames) == report['sent']
    assert ns.name not in subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True).stdout


@root_only
def test_the_command_stops_on_sigterm_with_its_counters_as_one_json_line():
    with ScratchNetns(pairs=2, tag=f'{os.getpid()}c') as ns:
        (a0, b0), (a1, _) = ns.pairs
        proc = ns.popen(sys.executable, '-m', 'testbed.appliances.packet_loop', a0, a1, '--frames', '8', cwd=REPO,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            processes.wait_ready(proc)
            with ns.entered():
                sender = raw(b0)
            for _ in range(3):
                sender.send(FRAME)
            sender.close()
            time.sleep(0.3)
        finally:
            counters = processes.stop(proc)
        assert proc.returncode == 0
        assert counters['received'] == 3 and counters['sent'] == 3 and counters['kernel-drop'] == 0


def test_tpacket2_header_is_the_kernels_size():
    assert pl.TPACKET2_HDR.size == 32 and struct.calcsize('=iHH8s') == 16


class RingFake(FakePort):
    """A port with a ring (so the loop hands it to the fast path) and a transmit ring."""

    def __init__(self, name, index):
        super().__init__(name, index)
        self.ring, self.tx_base, self.slots = object(), 1, []

    def transmit(self, frames):
        self.slots += frames
        return 0


def test_a_ring_fast_path_is_bound_to_the_ports_drains_its_port_and_what_it_sent_is_counted():
    a, b = RingFake('a', 1), RingFake('b', 2)
    bound = []

    def handler(frame, ifname, vlan):
        return [('b', frame)]

    def fast(port, limit):
        assert bound == [{'a': a, 'b': b}] and port is a
        if port.frames:
            port.frames = []
            return 4, [(b'slow', None, False)], 2, 1     # 2 sent, 1 dropped (its transmit ring full)
        return 0, [], 0, 0
    handler.fast_paths, handler.bind = {'a': fast}, bound.append
    a.frames = [1]
    loop = pl.PacketLoop([a, b], handler)
    assert loop.step() == 4 and loop.step() == 0
    assert b.slots == [b'slow']                         # the handler's frame, through the ring too
    assert loop.counters == {'received': 4, 'sent': 3, 'send-error': 1}


def test_slot_header_is_what_the_kernel_reads_of_a_transmit_slot():
    header = pl.slot_header(60)
    assert len(header) == pl.TX_DATA and pl.TX_SLOT.unpack_from(header) == (pl.TP_STATUS_SEND_REQUEST, 60, 60)
