"""Blackfoot's fast path sends byte for byte what the general path sends, and leaves to it what it
does not handle (scapy builds the packets)."""
import copy
import mmap

import pytest
from scapy.contrib.geneve import GENEVE
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN
from test_blackfoot import BLUE, HOST2, MAC1
from test_blackfoot import world as world  # noqa: F401  (the fixture)
from test_blackfoot_wire import INET_EDGE, INET_PEER, from_host
from test_blackfoot_wire import handler as handler  # noqa: F401  (the fixture)

from testbed.appliances import blackfoot_fast as fast
from testbed.appliances import blackfoot_wire as bw
from testbed.appliances import packet_loop as pl
from testbed.appliances.packets import ip4

OUT = [IP(src='10.0.1.10', dst='198.51.100.10') / UDP(sport=5000, dport=53) / bytes(30),
       IP(src='10.0.1.10', dst='198.51.100.10', flags='DF', ttl=2) / TCP(sport=40000, dport=80, flags='PA') / b'GET',
       IP(src='10.0.1.10', dst='198.51.100.10') / ICMP(type=8, id=7, seq=1) / bytes(56),
       IP(src='10.0.2.20', dst='198.51.100.10') / TCP(sport=40001, dport=80),     # another subnet
       IP(src='10.0.1.10', dst='198.51.100.10', flags='DF') / TCP(sport=1, dport=2) / bytes(1460)]
SLOW_OUT = [IP(src='10.0.1.10', dst='198.51.100.10', ttl=1) / UDP(),             # time exceeded
            IP(src='10.0.1.10', dst='198.51.100.10', flags='DF') / UDP() / bytes(1600),    # too big
            IP(src='10.0.1.10', dst='198.51.100.10', flags='MF') / UDP() / bytes(16),      # a fragment
            IP(src='10.0.1.10', dst='198.51.100.10', options=b'\x01\x01\x01\x00') / UDP(),
            IP(src='10.0.1.10', dst='198.51.100.10') / ICMP(type=3, code=3) / IP(dst='10.0.1.10') / UDP(),
            IP(src='10.0.3.30', dst='198.51.100.10') / UDP(),                      # no route to igw
            IP(src='10.0.1.99', dst='198.51.100.10') / UDP(),                      # no elastic IP
            IP(src='10.0.1.10', dst='198.18.0.10') / UDP(),                        # the endpoint's route
            IP(src='10.0.1.10', dst='198.51.100.10', proto=6) / bytes(10),         # half a TCP header
            IP(src='10.0.1.10', dst='169.254.169.254') / UDP(),                    # unroutable: link-local,
            IP(src='10.0.1.10', dst='224.0.0.251') / UDP(),                        # multicast,
            IP(src='10.0.1.10', dst='255.255.255.255') / UDP()]                    # broadcast
IN = [IP(src='198.51.100.10', dst='203.0.113.5') / UDP(sport=53, dport=5000) / bytes(30),
      IP(src='198.51.100.10', dst='203.0.113.5', ttl=9) / TCP(sport=80, dport=40000, flags='SA'),
      IP(src='198.51.100.10', dst='203.0.113.6') / ICMP(type=0, id=7) / bytes(8),
      IP(src='198.51.100.10', dst='203.0.113.5') / TCP(sport=1, dport=2) / bytes(1460)]
SLOW_IN = [IP(src='198.51.100.10', dst='203.0.113.7') / UDP(),             # its subnet has no route to igw
           IP(src='198.51.100.10', dst='203.0.113.99') / UDP(),            # no elastic IP
           IP(src='198.51.100.10', dst='203.0.113.5', ttl=1) / UDP(),
           IP(src='198.51.100.10', dst='203.0.113.5') / ICMP(type=11) / IP(src='203.0.113.5') / UDP(),
           IP(src='169.254.169.253', dst='203.0.113.5') / UDP(sport=53)]   # the VPC's DNS server, forged


def general(handler):  # noqa: F811
    """The same handler without its fast path, on a copy of the edge (its own counters)."""
    slow = bw.EdgeHandler(copy.deepcopy(handler.edge), handler.underlay, handler.links.values(), handler.relays)
    slow.fast_inbound = lambda *_: None
    return slow


class Ring:
    """A receive ring in anonymous memory (its slices are bytes, as the kernel's mmap ring's)."""

    def __init__(self, count=8, size=2048):
        self.frame_size, self.frame_count, self.cursor = size, count, 0
        self.ring = mmap.mmap(-1, size * count)

    def put(self, i, frame, status=pl.TP_STATUS_USER, tci=0, length=None):
        pl.TPACKET2_HDR.pack_into(self.ring, i * self.frame_size, status, length or len(frame), len(frame), 66, 80,
                                  0, 0, tci, 0)
        self.ring[i * self.frame_size + 66:i * self.frame_size + 66 + len(frame)] = frame


class TxRing:
    """A port's transmit ring in anonymous memory, after a receive ring's space as the kernel maps it."""

    def __init__(self, count=4, size=2048):
        self.frame_size, self.frame_count, self.tx_base, self.tx_cursor = size, count, size * count, 0
        self.ring, self.kicks, self.read = mmap.mmap(-1, 2 * size * count), 0, 0

    def kick(self):
        self.kicks += 1

    def status(self, i):
        return self.ring[self.tx_base + i * self.frame_size]

    def sent(self):
        """The frames of the slots requested since the last call, in ring order; their slots freed
        (as the kernel does once it has sent them)."""
        out = []
        while self.status(self.read) == pl.TP_STATUS_SEND_REQUEST:
            off = self.tx_base + self.read * self.frame_size
            status, n, snaplen = pl.TX_SLOT.unpack_from(self.ring, off)
            assert n == snaplen
            out.append(bytes(self.ring[off + pl.TX_DATA:off + pl.TX_DATA + n]))
            self.ring[off] = pl.TP_STATUS_KERNEL
            self.read = (self.read + 1) % self.frame_count
        return out


@pytest.fixture
def tx(handler):  # noqa: F811
    """The internet link's transmit ring, bound to the handler's fast path as the packet loop binds it."""
    ring = TxRing()
    handler.bind({'ul0': object(), 'inet0': ring})
    return ring


def outbound(handler, tx, frame):  # noqa: F811
    """What the drain sends for one underlay frame, as the loop's [(ifname, frame)], or None (left)."""
    ring = Ring(count=1)
    ring.put(0, frame)
    taken, rest, sent, dropped = handler.fast.outbound_drain(ring, 1)
    assert taken == 1 and dropped == 0 and sent == (not rest)
    frames = tx.sent()
    return None if rest else [('inet0', f) for f in frames]


def from_internet(packet):
    return bytes(Ether(src=INET_PEER.hex(':'), dst=INET_EDGE.hex(':')) / packet)


@pytest.mark.parametrize('packet', OUT, ids=lambda x: x.summary())
def test_outbound_is_what_the_general_path_sends(handler, tx, packet):  # noqa: F811
    slow, frame = general(handler), from_host(bytes(packet))
    got = outbound(handler, tx, frame)
    assert got is not None and got == slow(frame, 'ul0', None)
    assert handler.counters == slow.counters


@pytest.mark.parametrize('packet', IN, ids=lambda x: x.summary())
def test_inbound_is_what_the_general_path_sends(handler, packet):  # noqa: F811
    slow, frame = general(handler), from_internet(packet)
    got = handler.fast.inbound('inet0', frame)
    assert got is not None and got == slow(frame, 'inet0', None)
    assert handler.counters == slow.counters


@pytest.mark.parametrize('packet', SLOW_OUT, ids=lambda x: x.summary())
def test_what_the_fast_path_leaves_outbound(handler, tx, packet):  # noqa: F811
    assert outbound(handler, tx, from_host(bytes(packet))) is None
    assert 'fast-path-error' not in handler.counters


def test_without_a_transmit_ring_bound_everything_is_left_to_the_general_path(handler):  # noqa: F811
    handler.bind({'inet0': object()})
    assert outbound(handler, TxRing(), from_host(bytes(OUT[0]))) is None


def test_a_frame_a_hyperplane_node_relays_is_left_to_edge_relay(world):  # noqa: F811
    """Edge.relay delivers into the VPC what has a destination there, which the fast path would send
    to the internet (route 0.0.0.0/0 -> igw, an elastic IP for the source)."""
    node = bw.EdgeHandler(world, bw.Underlay('ul0', ip4('100.127.0.100'), bytes(6), lambda host: bytes(6)),
                          [bw.OutsideLink('internet', 'inet0', INET_EDGE, INET_PEER)], relays=[ip4('100.127.0.1')])
    ring = TxRing()
    node.bind({'inet0': ring})
    frame = from_host(bytes(IP(src='10.0.1.10', dst='10.0.2.20') / UDP()))    # from 100.127.0.1: the node
    assert outbound(node, ring, frame) is None
    (ifname, out), = node(frame, 'ul0', None)
    assert ifname == 'ul0' and Ether(out)[IP].dst == '100.127.0.2'       # 10.0.2.20's host


@pytest.mark.parametrize('packet', SLOW_IN, ids=lambda x: x.summary())
def test_what_the_fast_path_leaves_inbound(handler, packet):  # noqa: F811
    assert handler.fast.inbound('inet0', from_internet(packet)) is None
    assert handler.fast.inbound('dx0', from_internet(packet)) is None


def test_geneve_options_and_vxlan(handler, tx):  # noqa: F811
    inner = Ether(src='0e:00:00:00:01:0a', dst='0e:00:00:00:00:01') / IP(src='10.0.1.10', dst='1.1.1.1') / UDP()
    outer = Ether() / IP(src='100.127.0.1', dst='100.127.0.100')
    with_options = bytes(outer / UDP(dport=6081) / GENEVE(vni=BLUE, proto=0x6558, optionlen=1) / bytes(4) / inner)
    assert outbound(handler, tx, with_options) is None
    vxlan = bytes(outer / UDP(dport=4789) / VXLAN(vni=BLUE, flags=0x08) / inner)
    assert outbound(handler, tx, vxlan) == general(handler)(vxlan, 'ul0', None)


def test_a_nodes_frame_is_not_taken_by_a_hosts_template_of_the_same_inner_flow(handler):  # noqa: F811
    """The cache key keeps the outer source: after a host's packet to a mapped address made a template
    (its route is igw), a node's frame with the same inner flow is still left to Edge.relay."""
    node = bw.EdgeHandler(handler.edge, handler.underlay, handler.links.values(), relays=[ip4('100.127.254.1')])
    ring = TxRing()
    node.bind({'inet0': ring})
    to_vpc = IP(src='10.0.1.10', dst='10.0.2.20') / UDP()
    assert outbound(node, ring, from_host(bytes(to_vpc))) is not None
    inner = Ether(src='0e:00:00:00:01:0a', dst='0e:00:00:00:00:01') / to_vpc
    relayed = bytes(Ether() / IP(src='100.127.254.1', dst='100.127.0.100') / UDP(dport=6081)
                    / GENEVE(vni=BLUE, proto=0x6558) / inner)
    assert outbound(node, ring, relayed) is None


def test_the_template_follows_the_mapping(handler):  # noqa: F811
    frame = from_internet(IN[0])
    (_, first), = handler.fast.inbound('inet0', frame)
    handler.edge.mapping[(BLUE, ip4('10.0.1.10'))] = (HOST2, MAC1)
    (_, moved), = handler.fast.inbound('inet0', frame)
    assert Ether(bytes(first))[IP].dst == '100.127.0.1' and Ether(bytes(moved))[IP].dst == '100.127.0.2'
    assert bytes(moved) == bytes(general(handler)(frame, 'inet0', None)[0][1])
    del handler.edge.mapping[(BLUE, ip4('10.0.1.10'))]
    assert handler.fast.inbound('inet0', frame) is None


def test_checksum_arithmetic():
    old, new = ip4('10.0.1.10'), ip4('203.0.113.5')
    hdr = bytes(IP(src='10.0.1.10', dst='1.2.3.4'))[:20]
    moved = bytes(IP(src='203.0.113.5', dst='1.2.3.4'))[:20]
    csum = int.from_bytes(hdr[10:12], 'big')
    assert fast.adjust(csum, fast.word_delta(old, new)) == int.from_bytes(moved[10:12], 'big')
    assert fast.flow_hash(ip4('1.2.3.4') + ip4('5.6.7.8')) >= 49152
    # a zero delta keeps any checksum (how the drain leaves ICMP's)
    assert all(fast.FOLD[0xffff - v] == v.to_bytes(2, 'big') for v in range(0x10000))


def test_the_drain_writes_transmit_slots_and_leaves_the_rest_as_the_ring_gives_them(handler, tx):  # noqa: F811
    fast_frames = [from_host(bytes(x)) for x in OUT[:3]]
    slow, tagged = from_host(bytes(SLOW_OUT[0])), fast_frames[0]
    ring = Ring()
    ring.cursor, tx.tx_cursor, tx.read = 5, 3, 3    # both rings wrap around; the drain stops at the ring's end
    for i, frame in zip((5, 6, 7), fast_frames):
        ring.put(i, frame)
    ring.put(0, slow)
    ring.put(1, tagged, status=pl.TP_STATUS_USER | pl.TP_STATUS_VLAN_VALID, tci=101)
    ring.put(2, fast_frames[1], length=9000)            # truncated
    ring.put(3, tagged, status=pl.TP_STATUS_USER | pl.TP_STATUS_VLAN_VALID, tci=102, length=9000)
    assert handler.fast.outbound_drain(ring, 64) == (3, [], 3, 0)
    assert ring.cursor == 0 and tx.tx_cursor == 2 and tx.kicks == 1
    assert tx.sent() == [general(handler)(f, 'ul0', None)[0][1] for f in fast_frames]
    assert handler.counters['out:internet'] == 3
    taken, rest, sent, _ = handler.fast.outbound_drain(ring, 64)
    assert (taken, sent, ring.cursor) == (4, 0, 4) and tx.sent() == []
    assert rest == [(slow, None, False), (tagged, 101, False), (fast_frames[1], None, True), (tagged, 102, True)]
    assert all(ring.ring[i * ring.frame_size] == pl.TP_STATUS_KERNEL for i in range(8))
    assert handler.fast.outbound_drain(ring, 64)[:2] == (0, [])


def test_a_full_transmit_ring_drops_after_a_kick(handler, tx):  # noqa: F811
    ring = Ring()
    for i in range(6):
        ring.put(i, from_host(bytes(OUT[0])))
    assert handler.fast.outbound_drain(ring, 64)[2:] == (4, 2)     # 4 slots: nobody sent them
    assert tx.kicks == 3 and len(tx.sent()) == 4 and handler.counters['out:internet'] == 4
