"""Packet bytes built and rewritten by testbed.appliances.packets and .tunnels, checked against scapy."""
import pytest
from scapy.contrib.geneve import GENEVE
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, UDPerror
from scapy.layers.l2 import Dot1Q, Ether
from scapy.layers.vxlan import VXLAN

from testbed.appliances import packets as p
from testbed.appliances import tunnels

A, B, C = p.ip4('10.0.1.10'), p.ip4('198.51.100.10'), p.ip4('203.0.113.5')
MAC_A, MAC_B = p.mac('02:00:00:00:00:0a'), p.mac('02:00:00:00:00:0b')


def fresh(pkt, layers=(IP, TCP, UDP, ICMP)):
    """scapy's idea of the packet with the checksums of `layers` recomputed."""
    q = IP(bytes(pkt))
    for layer in layers:
        if layer in q:
            del q[layer].chksum
    return bytes(q.__class__(bytes(q)))


def test_text_and_bytes_addresses():
    assert p.ip4_text(A) == '10.0.1.10' and p.mac_text(MAC_A) == '02:00:00:00:00:0a'


def test_checksum_matches_rfc1071_example_and_odd_lengths():
    # RFC 1071 section 3: the sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2, checksum its complement
    assert p.checksum(bytes.fromhex('0001f203f4f5f6f7')) == ~0xddf2 & 0xffff
    assert p.checksum(b'\x01') == p.checksum(b'\x01\x00')


def test_csum_replace_equals_a_full_recomputation():
    data = bytearray(bytes(IP(src='10.0.1.10', dst='198.51.100.10') / UDP() / (b'x' * 10)))
    old = p.checksum(data)
    new_data = bytearray(data)
    new_data[12:16] = C
    assert p.csum_replace(old, data[12:16], C) == p.checksum(new_data)


@pytest.mark.parametrize('vlan', [None, 101])
def test_eth_build_parse_and_vlan_push_pop(vlan):
    frame = p.build_eth(MAC_B, MAC_A, p.ETH_P_IP, b'payload', vlan=vlan)
    eth = p.parse_eth(frame)
    assert (eth.dst, eth.src, eth.ethertype, eth.vlan) == (MAC_B, MAC_A, p.ETH_P_IP, vlan)
    assert frame[eth.offset:] == b'payload'
    if vlan:
        assert Ether(frame)[Dot1Q].vlan == vlan
        assert p.pop_vlan(frame) == (vlan, p.build_eth(MAC_B, MAC_A, p.ETH_P_IP, b'payload'))
    else:
        assert p.push_vlan(frame, 7) == p.build_eth(MAC_B, MAC_A, p.ETH_P_IP, b'payload', vlan=7)
        assert p.pop_vlan(frame) == (None, frame)


def test_build_and_parse_ipv4():
    pkt = p.build_ipv4(A, B, p.PROTO_UDP, b'12345678', ttl=7, ident=9)
    assert pkt == fresh(pkt, [IP])
    ip = p.parse_ipv4(pkt)
    assert (ip.src, ip.dst, ip.ttl, ip.ihl, ip.total_length, ip.df, ip.fragment) == (A, B, 7, 20, 28, True, False)
    assert p.parse_ipv4(b'\x60' + bytes(39)) is None and p.parse_ipv4(b'\x45') is None


@pytest.mark.parametrize('l4', [TCP(sport=40000, dport=80, flags='S'), UDP(sport=5000, dport=53),
                                ICMP(id=3, seq=1)])
@pytest.mark.parametrize('which', ['src', 'dst'])
def test_address_rewrite_fixes_every_checksum_incrementally(l4, which):
    buf = bytearray(bytes(IP(src='10.0.1.10', dst='198.51.100.10') / l4 / (b'data' * 5)))
    p.set_ipv4_address(buf, 0, which, C)
    assert p.ip4_text(bytes(buf[12:16] if which == 'src' else buf[16:20])) == '203.0.113.5'
    assert bytes(buf) == fresh(buf)


def test_udp_without_checksum_keeps_none():
    raw = bytearray(bytes(IP(src='10.0.1.10', dst='198.51.100.10') / UDP(chksum=0) / b'abc'))
    p.set_ipv4_address(raw, 0, 'src', C)
    assert IP(bytes(raw))[UDP].chksum == 0


def test_l4_checksum_matches_scapy():
    for l4 in (TCP(sport=1, dport=2), UDP(sport=1, dport=2)):
        pkt = IP(bytes(IP(src='10.0.1.10', dst='198.51.100.10') / l4 / b'hello'))
        seg = bytes(pkt.payload)
        assert p.l4_checksum(A, B, pkt.proto, seg) == pkt.payload.chksum


def test_decrement_ttl():
    buf = bytearray(p.build_ipv4(A, B, p.PROTO_UDP, bytes(8), ttl=2))
    assert p.decrement_ttl(buf, 0) == 1 and bytes(buf) == fresh(buf, [IP])
    assert p.decrement_ttl(buf, 0) == 0 and p.decrement_ttl(buf, 0) == 0


def test_icmp_echo_and_frag_needed_are_what_scapy_reads():
    echo = p.build_ipv4(A, B, p.PROTO_ICMP, p.build_icmp(p.ICMP_ECHO, 0, b'\0\x01\0\x02', b'ping'))
    assert echo == fresh(echo) and IP(echo)[ICMP].id == 1
    big = bytes(IP(src='10.0.1.10', dst='198.51.100.10', flags='DF') / UDP(sport=7, dport=9) / bytes(3000))
    err = p.frag_needed(p.ip4('10.0.1.1'), big, 1500)
    q = IP(err)
    assert (q.src, q.dst, q[ICMP].type, q[ICMP].code, q[ICMP].nexthopmtu) == ('10.0.1.1', '10.0.1.10', 3, 4, 1500)
    assert q[IPerror].dst == '198.51.100.10' and q[UDPerror].dport == 9
    assert len(q[ICMP].payload) == 28 and err == fresh(err)


def test_fix_icmp_checksum():
    pkt = bytearray(p.build_ipv4(A, B, p.PROTO_ICMP, p.build_icmp(p.ICMP_ECHO, 0, bytes(4), b'xyz')))
    pkt[-1] ^= 0xff
    p.fix_icmp_checksum(pkt, 20, len(pkt) - 20)
    assert bytes(pkt) == fresh(pkt)


@pytest.mark.parametrize('kind,layer', [('geneve', GENEVE), ('vxlan', VXLAN)])
def test_encapsulate_is_what_scapy_decodes_and_decapsulate_inverts_it(kind, layer):
    inner = bytes(Ether(src='02:00:00:00:00:0a', dst='02:00:00:00:00:0b') / IP(src='10.0.1.10', dst='10.0.2.20')
                  / UDP(sport=1, dport=2) / b'hi')
    frame = tunnels.encapsulate(inner, 77, p.ip4('100.127.0.1'), p.ip4('100.127.0.2'), MAC_A, MAC_B, kind=kind)
    q = Ether(frame)
    assert q[layer].vni == 77 and q[UDP].dport == tunnels.PORTS[kind] and 49152 <= q[UDP].sport
    assert bytes(q[layer].payload) == inner
    d = tunnels.decapsulate(frame)
    assert d == tunnels.Decapsulated(kind, 77, p.ip4('100.127.0.1'), p.ip4('100.127.0.2'), inner)
    assert tunnels.flow_port(inner) == q[UDP].sport


def test_decapsulate_skips_geneve_options_and_refuses_other_packets():
    inner = bytes(Ether() / IP() / b'x')
    opt = bytes(GENEVE(vni=5, proto=0x6558, optionlen=2)) + bytes(8) + inner
    frame = bytes(Ether() / IP(src='1.1.1.1', dst='2.2.2.2') / UDP(sport=1, dport=6081) / opt)
    assert tunnels.decapsulate(frame).inner == inner and tunnels.decapsulate(frame).vni == 5
    assert tunnels.decapsulate(bytes(Ether() / IP() / UDP(dport=53) / bytes(20))) is None
    assert tunnels.decapsulate(bytes(Ether() / IP() / TCP())) is None
    assert tunnels.decapsulate(bytes(Ether(type=0x0806) / bytes(28))) is None
    assert tunnels.parse_tunnel(bytes(4), 6081) is None


@pytest.mark.parametrize('size,mtu', [(3000, 1500), (1481, 1500), (100, 68)])
def test_fragments_reassemble_to_the_original(size, mtu):
    from scapy.layers.inet import defragment
    pkt = bytes(IP(src='10.0.1.10', dst='198.51.100.10', id=42) / UDP(sport=1, dport=2) / bytes(size))
    frags = p.fragment(pkt, mtu)
    assert all(len(f) <= mtu for f in frags) and len(frags) > 1
    assert all(f == fresh(f, [IP]) for f in frags)
    whole = defragment([IP(f) for f in frags])
    assert bytes(whole[0]) == fresh(pkt)


def test_arp_request_and_reply():
    from scapy.layers.l2 import ARP
    req = bytes(Ether(src='02:00:00:00:00:0a', dst='ff:ff:ff:ff:ff:ff')
                / ARP(op=1, hwsrc='02:00:00:00:00:0a', psrc='198.51.100.1', pdst='203.0.113.5'))
    assert p.arp_request_target(req) == (MAC_A, p.ip4('198.51.100.1'), C)
    assert p.arp_request_target(bytes(Ether() / ARP(op=2))) is None and p.arp_request_target(b'short') is None
    reply = Ether(p.arp_reply(MAC_B, C, MAC_A, p.ip4('198.51.100.1')))
    assert (reply.dst, reply[ARP].op, reply[ARP].hwsrc, reply[ARP].psrc, reply[ARP].pdst) == (
        '02:00:00:00:00:0a', 2, '02:00:00:00:00:0b', '203.0.113.5', '198.51.100.1')
