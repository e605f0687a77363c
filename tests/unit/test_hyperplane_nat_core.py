"""A NAT gateway's nodes on real packet bytes (scapy builds and checks them): unique source ports
across the shard, replies and ICMP errors back, RST after the idle timeout, and a connection that
survives the loss of the node it went through."""
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, TCPerror
from test_appliances_packets import fresh

from testbed.appliances.hyperplane import nat
from testbed.appliances.hyperplane.flows import Drop, Forward, Reply
from testbed.appliances.packets import ip4
from testbed.state_store import EmbeddedStore

NAT_IP, WEB = '10.0.0.5', '198.51.100.10'
CLIENTS = ('10.0.1.10', '10.0.1.11')


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def gateway(nodes=('hp1', 'hp2'), block_size=nat.BLOCK_SIZE):
    store, clock = EmbeddedStore(), Clock()
    members = [nat.NatNode('nat-0a', n, ip4(NAT_IP), store, clock, block_size=block_size) for n in nodes]
    nat.replicate(members)
    return store, clock, members


def syn(src, sport, dst=WEB, dport=80):
    return bytes(IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags='S', seq=1000))


def check(verdict):
    """The packet of a `Forward`, as scapy parses it, after checking its checksums are right."""
    assert isinstance(verdict, Forward), verdict
    assert fresh(verdict.packet) == verdict.packet
    return IP(verdict.packet)


def test_connections_to_one_destination_get_unique_ports_across_the_shard():
    store, _, (a, b) = gateway(block_size=64)        # small blocks: the nodes claim several each
    ports = []
    for i in range(300):
        node = (a, b)[i % 3 == 0]
        out = check(node.translate_out(syn(CLIENTS[i % 2], 40000 + i)))
        assert out.src == NAT_IP and out.dst == WEB and out[TCP].dport == 80
        ports.append(out[TCP].sport)
    assert len(set(ports)) == 300 and min(ports) >= 1024
    assert set(store.blocks('nat-0a').values()) == {'hp1', 'hp2'}
    assert a.counters['block-claims'] + b.counters['block-claims'] == len(store.blocks('nat-0a'))
    chose = {e.port: e.owner for e in a.out.values()}    # hp1 holds all entries: its own and hp2's copies
    assert len(chose) == 300 and set(b.out) == set(a.out)
    assert all(nat.port_owner(store, 'nat-0a', port, block_size=64) == chose[port] for port in ports)


def test_a_port_is_reused_toward_another_destination_only():
    _, _, (a, _) = gateway()
    p1 = check(a.translate_out(syn('10.0.1.10', 5000)))[TCP].sport
    p2 = check(a.translate_out(syn('10.0.1.11', 5000, dst='198.51.100.20')))[TCP].sport
    p3 = check(a.translate_out(syn('10.0.1.11', 5000)))[TCP].sport
    assert p1 == p2 != p3


def test_replies_and_icmp_errors_come_back_translated():
    _, _, (a, _) = gateway()
    out = check(a.translate_out(syn('10.0.1.10', 5000)))
    port = out[TCP].sport
    back = check(a.translate_in(bytes(IP(src=WEB, dst=NAT_IP) / TCP(sport=80, dport=port, flags='SA'))))
    assert (back.dst, back[TCP].dport) == ('10.0.1.10', 5000)
    assert a.out[next(iter(a.out))].state == 'established'
    # a router on the way says the packet was too big: it quotes the translated packet
    err = IP(src='198.51.100.1', dst=NAT_IP) / ICMP(type=3, code=4, nexthopmtu=1400) / bytes(out)[:28]
    back = check(a.translate_in(bytes(err)))
    assert back.dst == '10.0.1.10' and back[IPerror].src == '10.0.1.10' and back[TCPerror].sport == 5000
    assert a.translate_in(bytes(IP(src=WEB, dst=NAT_IP) / TCP(sport=80, dport=port + 1))) == Drop('no-flow')


def test_udp_and_ping_are_translated_by_port_and_identifier():
    _, _, (a, _) = gateway()
    udp = check(a.translate_out(bytes(IP(src='10.0.1.10', dst='198.51.100.53') / UDP(sport=3333, dport=53) / b'q')))
    back = check(a.translate_in(bytes(IP(src='198.51.100.53', dst=NAT_IP) / UDP(sport=53, dport=udp[UDP].sport))))
    assert back[UDP].dport == 3333
    ping = check(a.translate_out(bytes(IP(src='10.0.1.10', dst=WEB) / ICMP(id=77, seq=1))))
    assert ping.src == NAT_IP and ping[ICMP].id >= 1024
    pong = IP(src=WEB, dst=NAT_IP) / ICMP(type=0, id=ping[ICMP].id, seq=1)
    assert check(a.translate_in(bytes(pong)))[ICMP].id == 77


def test_tcp_of_no_connection_gets_a_reset_and_350_s_idle_ends_one():
    _, clock, (a, _) = gateway()
    stray = bytes(IP(src='10.0.1.10', dst=WEB) / TCP(sport=5001, dport=80, flags='A', seq=5, ack=9))
    rst = a.translate_out(stray)
    assert isinstance(rst, Reply) and fresh(rst.packet) == rst.packet
    r = IP(rst.packet)
    assert (r.src, r.dst, r[TCP].sport, r[TCP].dport, r[TCP].flags, r[TCP].seq) == (WEB, '10.0.1.10', 80, 5001,
                                                                                    'R', 9)
    port = check(a.translate_out(syn('10.0.1.10', 5000)))[TCP].sport
    check(a.translate_in(bytes(IP(src=WEB, dst=NAT_IP) / TCP(sport=80, dport=port, flags='SA'))))
    clock.now += nat.IDLE_TIMEOUT_S - 1
    ack = bytes(IP(src='10.0.1.10', dst=WEB) / TCP(sport=5000, dport=80, flags='A'))
    check(a.translate_out(ack))                          # still there: idle 349 s
    clock.now += nat.IDLE_TIMEOUT_S + 1
    assert isinstance(a.translate_out(ack), Reply)       # timed out: RST, as AWS's NAT gateway
    assert a.translate_in(bytes(IP(src=WEB, dst=NAT_IP) / TCP(sport=80, dport=port, flags='A'))) == Drop('no-flow')


def test_an_established_connection_survives_the_loss_of_its_node():
    store, _, (a, b) = gateway()
    port = check(a.translate_out(syn('10.0.1.10', 5000)))[TCP].sport
    check(a.translate_in(bytes(IP(src=WEB, dst=NAT_IP) / TCP(sport=80, dport=port, flags='SA'))))
    assert b.out and next(iter(b.out.values())).state == 'established'      # replicated
    # hp1 is lost: its traffic now reaches hp2, which takes over the block its flows use
    assert b.adopt('hp1') == [nat.block_of(port)]
    assert nat.port_owner(store, 'nat-0a', port) == 'hp2'
    ack = bytes(IP(src='10.0.1.10', dst=WEB) / TCP(sport=5000, dport=80, flags='A') / b'GET /')
    assert check(b.translate_out(ack))[TCP].sport == port
    back = check(b.translate_in(bytes(IP(src=WEB, dst=NAT_IP) / TCP(sport=80, dport=port, flags='A'))))
    assert back.dst == '10.0.1.10'
    # hp2's own new connections still get ports nobody else has
    assert check(b.translate_out(syn('10.0.1.11', 6000)))[TCP].sport != port


def test_export_fills_a_new_node_and_an_exhausted_gateway_drops():
    store, clock, (a, b) = gateway(block_size=32768)     # 1 block in all: hp1 gets it, hp2 none
    check(a.translate_out(syn('10.0.1.10', 5000)))
    c = nat.NatNode('nat-0a', 'hp3', ip4(NAT_IP), store, clock).import_(a.export())
    assert set(c.out) == set(a.out)
    assert b.translate_out(syn('10.0.1.11', 5000)) == Drop('ports-exhausted')
    a.release()
    assert store.blocks('nat-0a') == {}
