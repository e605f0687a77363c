"""Blackfoot's fast path for Hyperplane nodes' traffic sends byte for byte what the general path
sends: a node's relayed frame out through the internet gateway or into the VPC, and from the
internet to a NAT gateway's or an NLB's elastic IP through the node its door names (scapy builds
the packets)."""
import dataclasses
import os

import pytest
from scapy.contrib.geneve import GENEVE
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether
from test_blackfoot import BLUE, HOST1, MAC2
from test_blackfoot import world as world  # noqa: F401  (the fixture)
from test_blackfoot_fast import Ring, TxRing, from_internet, general
from test_blackfoot_wire import EDGE_UL, INET_EDGE, INET_PEER, TOR

from testbed.appliances import blackfoot as bf
from testbed.appliances import blackfoot_wire as bw
from testbed.appliances import edge_process
from testbed.appliances.blackfoot_hyperplane import Doors
from testbed.appliances.hyperplane import sharding
from testbed.appliances.hyperplane.flows import TRACE_MARK
from testbed.appliances.hyperplane.nat import block_of
from testbed.appliances.packets import ip4, ip4_text, mac

NODES = {'hp1': (ip4('100.127.1.1'), mac('02:aa:00:00:01:01')), 'hp2': (ip4('100.127.1.2'), mac('02:aa:00:00:01:02'))}
NAT, NAT_EIP = '10.0.1.5', '203.0.113.9'
NLB, NLB_EIP = '10.0.1.6', '203.0.113.10'
PORT1, PORT2 = 1100, 2200           # in hp1's block and in hp2's
WEB = '198.51.100.10'


class Store:
    """The blocks the nodes hold, as the state store says."""

    def __init__(self):
        self.owners = {block_of(PORT1): 'hp1', block_of(PORT2): 'hp2'}

    def blocks(self, gateway):
        return dict(self.owners)


@pytest.fixture
def store():
    return Store()


@pytest.fixture
def node_handler(world, store):  # noqa: F811
    """The test world's edge with a NAT gateway and an NLB on two Hyperplane nodes."""
    doors = Doors(NODES, [('nat-1', BLUE, ip4(NAT))], [('nlb-1', BLUE, [ip4(NLB)], ['hp1', 'hp2'])], store,
                  clock=lambda: 100.0)
    edge = dataclasses.replace(world, hyperplane=doors, elastic_ips=world.elastic_ips + [
        bf.ElasticIp(ip4(NAT_EIP), BLUE, ip4(NAT)), bf.ElasticIp(ip4(NLB_EIP), BLUE, ip4(NLB))])
    return bw.EdgeHandler(edge, bw.Underlay('ul0', ip4('100.127.0.100'), EDGE_UL, lambda host: TOR),
                          [bw.OutsideLink('internet', 'inet0', INET_EDGE, INET_PEER)],
                          relays=[ip for ip, _ in NODES.values()])


@pytest.fixture
def tx(node_handler):
    """The transmit rings of the underlay and the internet link, bound as the packet loop binds them."""
    rings = {'ul0': TxRing(), 'inet0': TxRing()}
    node_handler.bind(rings)
    return rings


def outbound(handler, tx, frame):
    """What the drain sends for one underlay frame, as the loop's [(ifname, frame)], or None (left)."""
    ring = Ring(count=1)
    ring.put(0, frame)
    taken, rest, sent, dropped = handler.fast.outbound_drain(ring, 1)
    assert taken == 1 and dropped == 0 and sent == (not rest)
    frames = [(ifname, f) for ifname, r in tx.items() for f in r.sent()]
    return None if rest else frames


def relayed(packet, node='hp1'):
    """An underlay frame a Hyperplane node sends the edge (its own underlay address as outer source)."""
    inner = Ether(src=NODES[node][1].hex(':'), dst='0e:00:00:00:00:01') / packet
    return bytes(Ether(src='02:70:00:00:00:01', dst='02:ed:00:00:00:01')
                 / IP(src=ip4_text(NODES[node][0]), dst='100.127.0.100')
                 / UDP(sport=49300, dport=6081) / GENEVE(vni=BLUE, proto=0x6558) / inner)


OUT = [IP(src=NAT, dst=WEB, flags='DF') / TCP(sport=PORT1, dport=80, flags='S'),
       IP(src=NAT, dst=WEB, flags='DF') / TCP(sport=PORT1, dport=80, flags='S') / TRACE_MARK,   # vpclab trace --wire
       IP(src=NAT, dst=WEB) / UDP(sport=PORT2, dport=53) / bytes(30),
       IP(src=NAT, dst=WEB) / ICMP(type=8, id=PORT1, seq=1) / bytes(56),
       IP(src=NLB, dst='198.51.100.77', flags='DF') / TCP(sport=80, dport=40000, flags='SA'),    # an NLB's reply
       IP(src=NAT, dst=WEB, flags='DF') / TCP(sport=1, dport=2) / bytes(1460)]
# a node's frames into the VPC (Edge.relay delivers them unchanged): to a mapped address, to another door
INTO = [IP(src=WEB, dst='10.0.2.20', ttl=63, flags='DF') / TCP(sport=80, dport=40000, flags='SA'),  # a NAT reply
        IP(src=WEB, dst='10.0.2.20', ttl=63) / TCP(sport=80, dport=40000, flags='A') / bytes(1448),
        IP(src=WEB, dst='10.0.2.20') / UDP(sport=53, dport=5353) / bytes(30),
        IP(src=WEB, dst='10.0.2.20') / ICMP(type=0, id=7, seq=1) / bytes(56),
        IP(src='198.51.100.11', dst='10.0.2.20', flags='DF') / TCP(sport=40001, dport=8080, flags='S'),  # an NLB's
        IP(src=NLB, dst='10.0.2.20') / TCP(sport=40000, dport=8080, flags='S') / TRACE_MARK,   # a health check
        IP(src='10.0.1.10', dst=NLB) / UDP(sport=5000, dport=80)]                      # to another door
# a node's frames the general path decides: into the VPC but not plain, out but not plain
LEFT = [IP(src=WEB, dst='10.0.2.20', ttl=1) / TCP(sport=80, dport=40000, flags='SA'),
        IP(src=WEB, dst='10.0.2.20', flags='MF') / UDP() / bytes(16),
        IP(src=WEB, dst='10.0.2.20') / ICMP(type=3, code=4) / IP(src='10.0.2.20', dst=WEB) / UDP(),
        IP(src=NAT, dst=WEB, ttl=1) / UDP(),
        IP(src=NAT, dst=WEB) / ICMP(type=3, code=3) / IP(dst=NAT) / UDP(),
        IP(src='10.0.1.99', dst=WEB) / UDP()]                                         # no elastic IP: dropped
IN = [IP(src=WEB, dst=NAT_EIP, flags='DF') / TCP(sport=80, dport=PORT1, flags='SA'),
      IP(src=WEB, dst=NAT_EIP, flags='DF') / TCP(sport=80, dport=PORT2, flags='SA') / TRACE_MARK,
      IP(src=WEB, dst=NAT_EIP) / UDP(sport=53, dport=PORT2) / bytes(30),
      IP(src=WEB, dst=NAT_EIP) / ICMP(type=0, id=PORT1, seq=1) / bytes(56),
      IP(src=WEB, dst=NLB_EIP, flags='DF') / TCP(sport=40000, dport=80, flags='S'),
      IP(src='198.51.100.11', dst=NLB_EIP, flags='DF') / TCP(sport=40001, dport=80, flags='S')]


def node_of(out):
    """The Hyperplane node an underlay frame goes to."""
    dst = Ether(out)[IP].dst
    return next(n for n, (ip, _) in NODES.items() if ip4_text(ip) == dst)


@pytest.mark.parametrize('packet, ifname, counter',
                         [pytest.param(x, 'inet0', 'out:internet', id=x.summary()) for x in OUT] +
                         [pytest.param(x, 'ul0', 'relayed', id=x.summary()) for x in INTO])
def test_a_relayed_frame_is_what_the_general_path_sends(node_handler, tx, packet, ifname, counter):
    """Out through the internet gateway, or into the VPC (unchanged, toward the mapping's or the door's answer)."""
    slow, frame = general(node_handler), relayed(packet)
    for _ in range(2):                  # the miss, then the template
        got = outbound(node_handler, tx, frame)
        assert got is not None and got == slow(frame, 'ul0', None) and got[0][0] == ifname
    assert node_handler.counters == slow.counters and node_handler.counters[counter] == 2


def test_one_drain_writes_both_rings_in_order(node_handler, tx):
    """Frames into the VPC, out and left, mixed in one drain: each ring gets its own in order, the
    counters are the general path's."""
    slow, frames = general(node_handler), [relayed(x) for x in (INTO[0], OUT[0], INTO[2], INTO[4], LEFT[0], OUT[2])]
    ring = Ring(count=len(frames))
    for i, frame in enumerate(frames):
        ring.put(i, frame)
    taken, rest, sent, dropped = node_handler.fast.outbound_drain(ring, len(frames))
    assert (taken, len(rest), sent, dropped) == (6, 1, 5, 0)
    expected = [slow(frame, 'ul0', None) for frame in frames]
    assert rest[0][0] == frames[4] and node_handler(rest[0][0], 'ul0', None) == expected.pop(4)
    for ifname, r in tx.items():
        assert r.sent() == [f for out in expected for name, f in out if name == ifname]
    assert node_handler.counters == slow.counters


def test_relayed_frames_into_the_vpc_follow_a_migration_at_once(node_handler, tx):
    """The mapping is asked per packet: the next frame goes to the new host, without a forget."""
    slow, frame = general(node_handler), relayed(INTO[0])
    assert Ether(outbound(node_handler, tx, frame)[0][1])[IP].dst == '100.127.0.2'
    for edge in (node_handler.edge, slow.edge):
        edge.mapping[(BLUE, ip4('10.0.2.20'))] = (HOST1, MAC2)
    got = outbound(node_handler, tx, frame)
    assert Ether(got[0][1])[IP].dst == '100.127.0.1' and got == slow(frame, 'ul0', None)


def test_a_relayed_frame_whose_destination_becomes_unmapped_goes_as_edge_relay_says(node_handler, tx):
    """At once to the general path (the per-packet answer is gone), and after the mapping's update
    (edge_process.Control) decided again: out through the internet gateway, or dropped as the
    general path drops it."""
    nat_reply_out = relayed(IP(src=NAT, dst='10.0.2.20') / UDP(sport=PORT1, dport=53))     # igw: 0.0.0.0/0
    client = relayed(INTO[4])
    for frame in (nat_reply_out, client):
        assert outbound(node_handler, tx, frame)[0][0] == 'ul0'
    mapping = node_handler.edge.mapping
    rows = [[vni, ip4_text(ip), ip4_text(host), m.hex(':')] for (vni, ip), (host, m) in mapping.items()
            if ip4_text(ip) != '10.0.2.20']
    del mapping[(BLUE, ip4('10.0.2.20'))]
    assert outbound(node_handler, tx, nat_reply_out) is None and outbound(node_handler, tx, client) is None
    control = edge_process.Control(os.open(os.devnull, os.O_RDONLY), mapping, dict,
                                   mapping_changed=node_handler.fast.forget)
    control.handle({'mapping': rows})
    slow = general(node_handler)
    got = outbound(node_handler, tx, nat_reply_out)
    assert got[0][0] == 'inet0' and got == slow(nat_reply_out, 'ul0', None)
    assert outbound(node_handler, tx, client) is None
    assert node_handler(client, 'ul0', None) == [] and node_handler.counters['drop:no-route'] == 1


def test_a_door_without_an_answer_is_left_to_the_general_path(node_handler, tx):
    """Every node of the NLB's shard lost: the general path counts relayed and no-live-node."""
    node_handler.edge.hyperplane.set_failed(['hp1', 'hp2'])
    frame = relayed(INTO[-1])
    assert outbound(node_handler, tx, frame) is None
    assert node_handler(frame, 'ul0', None) == []
    assert node_handler.counters['relayed'] == 1 and node_handler.counters['drop:no-live-node'] == 1


@pytest.mark.parametrize('packet', LEFT, ids=lambda x: x.summary())
def test_what_the_fast_path_leaves_of_a_nodes_frames(node_handler, tx, packet):
    slow, frame = general(node_handler), relayed(packet)
    assert outbound(node_handler, tx, frame) is None
    assert 'fast-path-error' not in node_handler.counters
    assert node_handler(frame, 'ul0', None) == slow(frame, 'ul0', None) and node_handler.counters == slow.counters


def test_the_general_path_delivers_what_was_left(node_handler, tx):
    (ifname, out), = node_handler(relayed(LEFT[0]), 'ul0', None)
    assert ifname == 'ul0' and Ether(out)[IP].dst == '100.127.0.2'             # 10.0.2.20's host
    assert Ether(out)[GENEVE][IP].ttl == 1 and node_handler.counters['relayed'] == 1


def test_a_relayed_frame_whose_destination_becomes_mapped_goes_into_the_vpc(node_handler, tx):
    """The cached decision 'out' holds while the destination is not mapped: the mapping's update
    (edge_process.Control) makes the fast path decide again."""
    mapping = node_handler.edge.mapping
    control = edge_process.Control(os.open(os.devnull, os.O_RDONLY), mapping, dict,
                                   mapping_changed=node_handler.fast.forget)
    rows = [[vni, ip4_text(ip), ip4_text(host), m.hex(':')] for (vni, ip), (host, m) in mapping.items()]
    frame = relayed(IP(src=NAT, dst='10.0.1.77') / UDP(sport=PORT1, dport=53))      # igw: 0.0.0.0/0
    assert outbound(node_handler, tx, frame) == general(node_handler)(frame, 'ul0', None)
    control.handle({'mapping': rows + [[BLUE, '10.0.1.77', '100.127.0.2', MAC2.hex(':')]]})
    (ifname, out), = outbound(node_handler, tx, frame)
    assert ifname == 'ul0' and Ether(out)[IP].dst == '100.127.0.2' and Ether(out)[GENEVE][IP].dst == '10.0.1.77'
    assert [(ifname, out)] == general(node_handler)(frame, 'ul0', None)
    control.handle({'mapping': rows})           # gone again: out through the internet gateway
    assert outbound(node_handler, tx, frame) == general(node_handler)(frame, 'ul0', None)


@pytest.mark.parametrize('packet', IN, ids=lambda x: x.summary())
def test_inbound_to_a_hyperplane_address_is_what_the_general_path_sends(node_handler, packet):
    slow, frame = general(node_handler), from_internet(packet)
    for _ in range(2):                  # the template is made, then reused
        got = node_handler.fast.inbound('inet0', frame)
        assert got is not None and got == slow(frame, 'inet0', None)
    assert node_handler.counters == slow.counters and node_handler.counters['in:igw'] == 2


def test_inbound_to_a_nat_gateway_goes_to_the_node_of_each_ports_block(node_handler):
    """One internet host, one elastic IP: the connections of one key go to both nodes, each to its own."""
    one, two = (from_internet(IN[0]), from_internet(IN[2]))
    for _ in range(2):
        assert [node_of(node_handler.fast.inbound('inet0', f)[0][1]) for f in (one, two)] == ['hp1', 'hp2']


def test_a_node_failure_changes_the_doors_answer(node_handler, store):
    slow, frame = general(node_handler), from_internet(IN[0])
    assert node_of(node_handler.fast.inbound('inet0', frame)[0][1]) == 'hp1'
    store.owners[block_of(PORT1)] = 'hp2'               # hp2 adopts hp1's block
    node_handler.edge.hyperplane.set_failed(['hp1'])
    got = node_handler.fast.inbound('inet0', frame)
    assert node_of(got[0][1]) == 'hp2' and got == slow(frame, 'inet0', None)


def test_a_port_no_node_holds_is_left_to_the_general_path(node_handler):
    """It counts in:igw and drop:no-flow: no node holds a connection on that port (the door has no answer)."""
    frame = from_internet(IP(src=WEB, dst=NAT_EIP) / TCP(sport=80, dport=9000, flags='SA'))
    assert node_handler.fast.inbound('inet0', frame) is None
    assert node_handler(frame, 'inet0', None) == []
    assert node_handler.counters['in:igw'] == 1 and node_handler.counters['drop:no-flow'] == 1


def test_an_nlb_client_goes_to_its_buckets_node(node_handler):
    for packet in IN[4:]:
        t = packet[TCP]
        owner = sharding.bucket_owner('nlb-1', sharding.bucket_of(ip4(packet[IP].src), t.sport), ['hp1', 'hp2'])
        assert node_of(node_handler.fast.inbound('inet0', from_internet(packet))[0][1]) == owner
