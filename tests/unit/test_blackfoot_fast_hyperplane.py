"""Blackfoot's fast path for Hyperplane nodes' traffic sends byte for byte what the general path
sends: a node's relayed frame out through the internet gateway, and from the internet to a NAT
gateway's or an NLB's elastic IP through the node its door names (scapy builds the packets)."""
import dataclasses
import os

import pytest
from scapy.contrib.geneve import GENEVE
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether
from test_blackfoot import BLUE, MAC2
from test_blackfoot import world as world  # noqa: F401  (the fixture)
from test_blackfoot_fast import TxRing, from_internet, general, outbound
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
    ring = TxRing()
    node_handler.bind({'ul0': object(), 'inet0': ring})
    return ring


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
# a node's frames the general path decides: into the VPC (mapped; another door), out but not plain
LEFT = [IP(src=NLB, dst='10.0.2.20') / TCP(sport=40000, dport=8080, flags='S'),      # a health check, to a target
        IP(src='10.0.1.10', dst=NLB) / UDP(),                                         # to another door
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


@pytest.mark.parametrize('packet', OUT, ids=lambda x: x.summary())
def test_a_relayed_frame_to_the_internet_is_what_the_general_path_sends(node_handler, tx, packet):
    slow, frame = general(node_handler), relayed(packet)
    for _ in range(2):                  # the miss, then the template
        got = outbound(node_handler, tx, frame)
        assert got is not None and got == slow(frame, 'ul0', None)
    assert node_handler.counters == slow.counters and node_handler.counters['out:internet'] == 2


@pytest.mark.parametrize('packet', LEFT, ids=lambda x: x.summary())
def test_what_the_fast_path_leaves_of_a_nodes_frames(node_handler, tx, packet):
    assert outbound(node_handler, tx, relayed(packet)) is None
    assert 'fast-path-error' not in node_handler.counters


def test_the_general_path_delivers_what_was_left(node_handler, tx):
    (ifname, out), = node_handler(relayed(LEFT[0]), 'ul0', None)
    assert ifname == 'ul0' and Ether(out)[IP].dst == '100.127.0.2'             # 10.0.2.20's host
    assert node_handler.counters['relayed'] == 1


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
    assert outbound(node_handler, tx, frame) is None
    (ifname, out), = node_handler(frame, 'ul0', None)
    assert ifname == 'ul0' and Ether(out)[IP].dst == '100.127.0.2' and Ether(out)[GENEVE][IP].dst == '10.0.1.77'
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
    """It counts in:igw and drop:no-mapping (the door has no answer)."""
    frame = from_internet(IP(src=WEB, dst=NAT_EIP) / TCP(sport=80, dport=9000, flags='SA'))
    assert node_handler.fast.inbound('inet0', frame) is None
    assert node_handler(frame, 'inet0', None) == []
    assert node_handler.counters['in:igw'] == 1 and node_handler.counters['drop:no-mapping'] == 1


def test_an_nlb_client_goes_to_its_buckets_node(node_handler):
    for packet in IN[4:]:
        t = packet[TCP]
        owner = sharding.bucket_owner('nlb-1', sharding.bucket_of(ip4(packet[IP].src), t.sport), ['hp1', 'hp2'])
        assert node_of(node_handler.fast.inbound('inet0', from_internet(packet))[0][1]) == owner
