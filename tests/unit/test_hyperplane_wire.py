"""A Hyperplane node's handler on frames (no lab): NAT both ways, replication, an NLB and PrivateLink,
and Blackfoot's doors to the node holding a NAT port."""
import os
import struct

from testbed.appliances import packets as p
from testbed.appliances.blackfoot_hyperplane import Doors
from testbed.appliances.hyperplane.flows import TCP_ACK, TCP_RST, TCP_SYN, TRACE_MARK
from testbed.appliances.hyperplane.nat import block_of
from testbed.appliances.hyperplane.wire import REPLICATION_PORT, NodeHandler
from testbed.appliances.tunnels import decapsulate, encapsulate
from testbed.fabric import edge_plan
from testbed.fabric import hyperplane_plan as hp
from testbed.state_store import open_store
from testbed.topology import load

TOPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'topologies', 'hyperplane.yaml')
HOST_IP, HOST_MAC = p.ip4('100.127.0.1'), p.mac('02:aa:00:00:00:01')
EDGE = (edge_plan.edge_ip(1), edge_plan.edge_mac(1))
WEB = p.ip4('198.51.100.10')


def tcp(src, sport, dst, dport, flags=TCP_SYN, seq=1, ack=0):
    seg = bytearray(struct.pack('!HHIIBBHHH', sport, dport, seq, ack, 5 << 4, flags, 1024, 0, 0))
    struct.pack_into('!H', seg, 16, p.l4_checksum(src, dst, p.PROTO_TCP, seg))
    return p.build_ipv4(src, dst, p.PROTO_TCP, bytes(seg))


def frame(vni, packet, outer_src=HOST_IP, node=None):
    inner = p.build_eth(b'\2' * 6, b'\4' * 6, p.ETH_P_IP, packet)
    return encapsulate(inner, vni, outer_src, p.ip4(node.ip), HOST_MAC, p.mac(node.mac))


def inner(out):
    d = decapsulate(out)
    return d, p.parse_ipv4(d.inner, 14), d.inner[14:]


def fleet(topo):
    store, now = open_store('embedded'), [100.0]
    nodes = {n.name: n for n in hp.nodes(topo)}
    handlers = {n: NodeHandler(hp.node_config(topo, node, '/run', EDGE, 'geneve'), store, lambda: now[0])
                for n, node in nodes.items()}
    return store, nodes, handlers


def test_nat_out_and_back_with_the_reply_finding_the_port_owner():
    topo = load(TOPO)
    store, nodes, handlers = fleet(topo)
    blue = topo.vpcs['blue']
    nat = next(r for r in hp.resources(topo) if r.kind == 'nat')
    first = nat.shard[0]
    out = handlers[first](frame(blue.vni, tcp(p.ip4('10.0.1.10'), 40000, WEB, 80), node=nodes[first]), 'ul', None)
    assert len(out) == 1
    d, ip, packet = inner(out[0][1])
    assert d.outer_dst == p.ip4(EDGE[0]) and d.vni == blue.vni and ip.src == p.ip4(nat.ips[0])
    port = struct.unpack_from('!H', packet, 20)[0]
    # replication: the other node of the shard gets the entry over UDP
    datagrams = handlers[first].flush()
    other = nat.shard[1]
    assert datagrams and all(frame_[30:34] == p.ip4(nodes[other].ip) for _, frame_ in datagrams)
    assert struct.unpack_from('!H', datagrams[0][1], 36)[0] == REPLICATION_PORT
    handlers[other](datagrams[0][1], 'ul', None)
    # Blackfoot's door sends the reply to the port's owner
    doors = Doors({n: (p.ip4(x.ip), p.mac(x.mac)) for n, x in nodes.items()},
                  [(nat.id, nat.vni, p.ip4(nat.ips[0]))], [], store)
    reply = tcp(WEB, 80, p.ip4(nat.ips[0]), port, TCP_SYN | TCP_ACK)
    assert doors.get((nat.vni, p.ip4(nat.ips[0])))(reply) == (p.ip4(nodes[first].ip), p.mac(nodes[first].mac))
    # the survivor translates the reply with the replicated entry once it adopted the blocks
    doors.set_failed([first])
    handlers[other].adopt(first)
    assert doors.get((nat.vni, p.ip4(nat.ips[0])))(reply)[0] == p.ip4(nodes[other].ip)
    d, ip, packet = inner(handlers[other](frame(blue.vni, reply, p.ip4(EDGE[0]), nodes[other]), 'ul', None)[0][1])
    assert ip.dst == p.ip4('10.0.1.10') and struct.unpack_from('!H', packet, 22)[0] == 40000


def test_nlb_forward_keeps_the_client_and_the_reply_comes_from_the_listener():
    topo = load(TOPO)
    _, nodes, handlers = fleet(topo)
    lb = next(r for r in hp.resources(topo) if r.name == 'web-nlb')
    h = handlers[lb.shard[0]]
    client, vip = p.ip4('10.0.1.10'), p.ip4(lb.ips[0])
    d, ip, packet = inner(h(frame(lb.vni, tcp(client, 40001, vip, 80), node=nodes[lb.shard[0]]), 'ul', None)[0][1])
    assert ip.src == client and ip.dst in (p.ip4('10.0.1.20'), p.ip4('10.0.1.21'))
    assert struct.unpack_from('!H', packet, 22)[0] == 8080
    back = tcp(ip.dst, 8080, client, 40001, TCP_SYN | TCP_ACK)
    _, ip, packet = inner(h(frame(lb.vni, back, node=nodes[lb.shard[0]]), 'ul', None)[0][1])
    assert ip.src == vip and struct.unpack_from('!H', packet, 20)[0] == 80


def test_privatelink_between_overlapping_vpcs():
    topo = load(TOPO)
    _, nodes, handlers = fleet(topo)
    ep = next(r for r in hp.resources(topo) if r.kind == 'endpoint')
    consumer, address = p.ip4('10.0.1.10'), p.ip4(ep.ips[0])
    for name in ep.shard:
        h = handlers[name]
        out = h(frame(ep.vni, tcp(consumer, 40002, address, 443), node=nodes[name]), 'ul', None)
        d, ip, packet = inner(out[0][1])
        assert d.vni == ep.provider['vni'] and ip.src == p.ip4(ep.provider['nlb_ip'])
        assert ip.dst in (p.ip4('10.0.1.10'), p.ip4('10.0.1.11'))
        sport = struct.unpack_from('!H', packet, 20)[0]
        assert h.owns_bucket(ep.provider['load_balancer_id'], ep.shard, sport)
        back = tcp(ip.dst, 8443, ip.src, sport, TCP_SYN | TCP_ACK)
        d, ip, packet = inner(h(frame(ep.provider['vni'], back, node=nodes[name]), 'ul', None)[0][1])
        assert d.vni == ep.vni and ip.src == address and ip.dst == consumer
        assert struct.unpack_from('!HH', packet, 20) == (443, 40002)


def test_health_checks_probe_from_a_port_that_comes_back_here():
    topo = load(TOPO)
    _, nodes, handlers = fleet(topo)
    lb = next(r for r in hp.resources(topo) if r.name == 'web-nlb')
    h = handlers[lb.shard[0]]
    probes = [inner(f) for _, f in h.health_checks(200.0)]
    probes = [(ip, packet) for _, ip, packet in probes if ip.src == p.ip4(lb.ips[0])]
    assert len(probes) == 2                          # one per target
    ip, packet = probes[0]
    assert struct.unpack_from('!H', packet, 22)[0] == 8080
    sport = struct.unpack_from('!H', packet, 20)[0]
    assert h.owns_bucket(lb.id, lb.shard, sport)
    answer = tcp(ip.dst, 8080, ip.src, sport, TCP_SYN | TCP_ACK, seq=7000, ack=0x1001)
    out = h(frame(lb.vni, answer, node=nodes[lb.shard[0]]), 'ul', None)
    _, rst_ip, rst = inner(out[0][1])
    assert rst_ip.dst == ip.dst                      # the RST that ends the probe, in the target's sequence
    assert struct.unpack_from('!II', rst, 24) == (0x1001, 7001) and rst[33] == TCP_RST | TCP_ACK


def test_a_node_counts_each_packet_it_drops_once_by_its_reason():
    """What `vpclab check` reads of a node: a NAT gateway's packet is forwarded, whatever the NLBs of its
    VPC said of it first (their `reverse`); a port of no listener is one drop; a refused health check none."""
    topo = load(TOPO)
    _, nodes, handlers = fleet(topo)
    nat = next(r for r in hp.resources(topo) if r.kind == 'nat')
    h = handlers[nat.shard[0]]
    assert h(frame(nat.vni, tcp(p.ip4('10.0.1.10'), 40000, WEB, 80), node=nodes[nat.shard[0]]), 'ul', None)
    assert not [k for k in h.counters if k.startswith('drop:')]
    lb = next(r for r in hp.resources(topo) if r.name == 'pub-nlb')
    h, node, vip = handlers[lb.shard[0]], nodes[lb.shard[0]], p.ip4(lb.ips[0])
    udp = p.build_ipv4(WEB, vip, p.PROTO_UDP, struct.pack('!HHHH', 40001, 81, 8, 0))
    for packet in (tcp(WEB, 40001, vip, 81), udp):
        assert h(frame(lb.vni, packet, p.ip4(EDGE[0]), node), 'ul', None) == []
    assert {k: v for k, v in h.counters.items() if k.startswith('drop:')} == {'drop:no-listener': 2}
    _, ip, packet = next(x for x in (inner(f) for _, f in h.health_checks(200.0)) if x[1].src == vip)
    refused = tcp(ip.dst, 8081, vip, struct.unpack_from('!H', packet, 20)[0], TCP_RST | TCP_ACK)
    assert h(frame(lb.vni, refused, node=node), 'ul', None) == []
    assert h.counters['drop:no-listener'] == 2 and len([k for k in h.counters if k.startswith('drop:')]) == 1


def test_a_probe_uses_a_new_source_port_each_time():
    topo = load(TOPO)
    _, _, handlers = fleet(topo)
    lb = next(r for r in hp.resources(topo) if r.name == 'web-nlb')
    h = handlers[lb.shard[0]]
    ports = set()
    for t in (200.0, 202.0, 204.0):
        for _, f in h.health_checks(t):
            _, ip, packet = inner(f)
            if ip.src == p.ip4(lb.ips[0]):
                ports.add(struct.unpack_from('!H', packet, 20)[0])
    assert len(ports) > 1 and all(h.owns_bucket(lb.id, lb.shard, q) for q in ports)


def test_the_survivor_of_an_nlb_shard_knows_the_flows_of_the_lost_node():
    topo = load(TOPO)
    _, nodes, handlers = fleet(topo)
    lb = next(r for r in hp.resources(topo) if r.name == 'web-nlb')
    first, other = lb.shard
    client, vip = p.ip4('10.0.1.10'), p.ip4(lb.ips[0])
    _, ip, _ = inner(handlers[first](frame(lb.vni, tcp(client, 40005, vip, 80), node=nodes[first]), 'ul', None)[0][1])
    target = ip.dst
    for _, datagram in handlers[first].flush():
        handlers[other](datagram, 'ul', None)
    back = tcp(target, 8080, client, 40005, TCP_ACK)
    _, ip, packet = inner(handlers[other](frame(lb.vni, back, node=nodes[other]), 'ul', None)[0][1])
    assert ip.src == vip and struct.unpack_from('!H', packet, 20)[0] == 80
    again = tcp(client, 40005, vip, 80, TCP_ACK)
    _, ip, _ = inner(handlers[other](frame(lb.vni, again, node=nodes[other]), 'ul', None)[0][1])
    assert ip.dst == target                          # the same target, whatever its health here


def test_a_reply_of_a_direct_connection_to_a_target_port_goes_on_unchanged():
    topo = load(TOPO)
    _, nodes, handlers = fleet(topo)
    lb = next(r for r in hp.resources(topo) if r.name == 'web-nlb')
    h = handlers[lb.shard[0]]
    back = tcp(p.ip4('10.0.1.20'), 8080, p.ip4('10.0.1.10'), 40006, TCP_SYN | TCP_ACK)
    out = h(frame(lb.vni, back, node=nodes[lb.shard[0]]), 'ul', None)
    d, _, packet = inner(out[0][1])
    assert d.outer_dst == p.ip4(EDGE[0]) and packet == back


def test_a_nat_rst_to_the_instance_goes_through_the_edge():
    topo = load(TOPO)
    _, nodes, handlers = fleet(topo)
    nat = next(r for r in hp.resources(topo) if r.kind == 'nat')
    h = handlers[nat.shard[0]]
    stray = tcp(p.ip4('10.0.1.10'), 40007, WEB, 80, TCP_ACK)        # belongs to no connection
    d, ip, packet = inner(h(frame(topo.vpcs['blue'].vni, stray, node=nodes[nat.shard[0]]), 'ul', None)[0][1])
    assert d.outer_dst == p.ip4(EDGE[0]) and ip.dst == p.ip4('10.0.1.10') and packet[33] & TCP_RST


def test_a_traced_packet_is_counted_apart_by_its_mark():
    """`vpclab trace --wire` reads what the node decided of its one packet, whatever else the node does."""
    topo = load(TOPO)
    _, nodes, handlers = fleet(topo)
    lb = next(r for r in hp.resources(topo) if r.name == 'pub-nlb')
    node = nodes[lb.shard[0]]
    h = handlers[lb.shard[0]]

    def traced(dport, flags=TCP_SYN):
        seg = bytearray(struct.pack('!HHIIBBHHH', 40000, dport, 1, 0, 5 << 4, flags, 1024, 0, 0) + TRACE_MARK)
        struct.pack_into('!H', seg, 16, p.l4_checksum(WEB, p.ip4(lb.ips[0]), p.PROTO_TCP, seg))
        packet = p.build_ipv4(WEB, p.ip4(lb.ips[0]), p.PROTO_TCP, bytes(seg))
        h(frame(lb.vni, packet, p.ip4(EDGE[0]), node), 'ul', None)
        return {k: v for k, v in h.counters.items() if k.startswith('traced:')}

    h(frame(lb.vni, tcp(WEB, 40001, p.ip4(lb.ips[0]), 81), p.ip4(EDGE[0]), node), 'ul', None)    # not traced
    assert not any(k.startswith('traced:') for k in h.counters)
    assert traced(80) == {'traced:forward': 1}
    assert traced(81) == {'traced:forward': 1, 'traced:drop:no-listener': 1}


def test_doors_read_the_store_again_for_a_block_claimed_just_after_a_read_but_not_per_packet():
    class Store:
        reads, owners = 0, {}

        def blocks(self, gateway):
            Store.reads += 1
            return dict(Store.owners)

    nat_ip = p.ip4('10.0.0.5')
    nodes = {'hp1': (p.ip4('100.127.1.1'), b'\1' * 6), 'hp2': (p.ip4('100.127.1.2'), b'\2' * 6)}
    door = Doors(nodes, [('nat-1', 7, nat_ip)], [], Store(), clock=lambda: 100.0).get((7, nat_ip))
    Store.owners = {block_of(1024): 'hp1'}
    assert door(tcp(WEB, 80, nat_ip, 1024, TCP_SYN | TCP_ACK)) == nodes['hp1']
    Store.owners[block_of(2048)] = 'hp2'       # hp2's first block, at the same instant
    assert door(tcp(WEB, 80, nat_ip, 2048, TCP_SYN | TCP_ACK)) == nodes['hp2']
    reads = Store.reads
    for _ in range(3):                          # a port nobody holds: one read, not one per packet
        assert door(tcp(WEB, 80, nat_ip, 9000, TCP_SYN | TCP_ACK)) is None
    assert Store.reads == reads + 1
