"""ESP tunnel mode with AES-GCM: round trips, interoperation with scapy both ways, tshark decrypting."""
import shutil
import subprocess

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.ipsec import ESP
from scapy.layers.ipsec import SecurityAssociation as ScapySA
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from testbed.appliances import esp
from testbed.appliances.packets import PROTO_ESP, build_ipv4, ip4, ip4_text, parse_ipv4

EDGE, SITE = ip4('100.64.0.1'), ip4('100.64.0.2')
INNER = bytes(IP(src='10.0.1.10', dst='192.168.1.10') / UDP(sport=1234, dport=5678) / b'hello-vpn')


@pytest.fixture
def sas():
    return esp.sa_pair('demo', 'corp-vpn', EDGE, SITE)


def scapy_sa(sa):
    return ScapySA(ESP, spi=sa.spi, crypt_algo='AES-GCM', crypt_key=sa.keying_material, auth_algo='NULL',
                   tunnel_header=IP(src=ip4_text(sa.src), dst=ip4_text(sa.dst)))


def test_keys_are_deterministic_and_distinct_per_topology_connection_and_direction(sas):
    to_site, to_edge = sas
    assert esp.sa_pair('demo', 'corp-vpn', EDGE, SITE) == sas
    assert to_site.spi != to_edge.spi and to_site.key != to_edge.key
    assert esp.sa_pair('other', 'corp-vpn', EDGE, SITE)[0].key != to_site.key
    assert esp.sa_pair('demo', 'corp-vpn2', EDGE, SITE)[0].key != to_site.key
    assert len(to_site.key) == 32 and len(to_site.salt) == 4 and to_site.spi >= 256
    assert (to_edge.src, to_edge.dst) == (SITE, EDGE)


@pytest.mark.parametrize('size', [1, 2, 3, 4, 5, 1400])
def test_round_trip_and_alignment(sas, size):
    inner = INNER + bytes(size)
    outer = esp.tunnel_encrypt(sas[0], inner, 7)
    ip = parse_ipv4(outer)
    assert (ip.proto, ip.src, ip.dst) == (PROTO_ESP, EDGE, SITE)
    assert (ip.total_length - 20 - esp.HEADER_LEN - esp.ICV_LEN) % 4 == 0
    assert esp.tunnel_decrypt(sas[0], outer) == (7, inner)


def test_tampering_wrong_spi_and_short_packets_are_refused(sas):
    payload = bytearray(esp.encrypt(sas[0], INNER, 1))
    payload[20] ^= 1
    for bad, reason in ((bytes(payload), 'esp-bad-icv'), (esp.encrypt(sas[1], INNER, 1), 'esp-unknown-spi'),
                        (bytes(20), 'esp-short')):
        with pytest.raises(esp.EspError) as e:
            esp.decrypt(sas[0], bad)
        assert e.value.reason == reason
    with pytest.raises(esp.EspError, match='esp-not-tunnel'):
        esp.tunnel_decrypt(sas[0], build_ipv4(EDGE, SITE, PROTO_ESP, esp.encrypt(sas[0], INNER, 1, 17)))
    with pytest.raises(esp.EspError, match='esp-not-esp'):
        esp.tunnel_decrypt(sas[0], INNER)


def test_what_we_encrypt_scapy_decrypts(sas):
    outer = IP(esp.tunnel_encrypt(sas[0], INNER, 3))
    assert bytes(scapy_sa(sas[0]).decrypt(outer)) == INNER


def test_what_scapy_encrypts_we_decrypt(sas):
    sealed = scapy_sa(sas[1]).encrypt(IP(INNER), seq_num=9)
    assert esp.tunnel_decrypt(sas[1], bytes(sealed)) == (9, INNER)


def test_replay_window():
    w = esp.ReplayWindow(size=8)
    assert not w.check(0)
    for seq in (1, 3, 2):
        assert w.check(seq)
        w.update(seq)
        assert not w.check(seq)
    w.update(20)
    assert not w.check(12) and w.check(13) and not w.check(20) and w.check(21)
    w.update(13)
    assert not w.check(13) and w.check(19)


def test_tunnel_ends_talk_and_refuse_replays(sas):
    edge, site = esp.Tunnel(*sas), esp.Tunnel(sas[1], sas[0])
    first, second = edge.seal(INNER), edge.seal(INNER + b'2')
    assert site.open(second) == INNER + b'2' and site.open(first) == INNER
    with pytest.raises(esp.EspError, match='esp-replay'):
        site.open(first)
    assert edge.open(site.seal(INNER)) == INNER
    edge.seq = (1 << 32) - 1
    with pytest.raises(esp.EspError, match='esp-sequence-exhausted'):
        edge.seal(INNER)


def test_forged_packet_does_not_move_the_window(sas):
    site = esp.Tunnel(sas[1], sas[0])
    forged = bytearray(esp.tunnel_encrypt(sas[0], INNER, 1000))
    forged[-1] ^= 1
    with pytest.raises(esp.EspError, match='esp-bad-icv'):
        site.open(bytes(forged))
    assert site.window.top == 0


def test_tshark_uat_record(sas):
    record = esp.tshark_uat(sas[0])
    assert record.startswith(f'"IPv4","100.64.0.1","100.64.0.2","0x{sas[0].spi:08x}","AES-GCM with 16 octet')
    assert f'"0x{sas[0].key.hex()}{sas[0].salt.hex()}","NULL",""' in record
    assert esp.tshark_args(sas).count('-o') == 4


@pytest.mark.skipif(shutil.which('tshark') is None, reason='tshark is not installed (scripts/setup.sh installs it)')
def test_tshark_decrypts_a_capture_with_the_printed_keys(sas, tmp_path):
    edge = esp.Tunnel(*sas)
    pcap = tmp_path / 'esp.pcap'
    wrpcap(str(pcap), [Ether() / IP(edge.seal(INNER)), Ether() / IP(esp.Tunnel(sas[1], sas[0]).seal(INNER))])
    out = subprocess.run(['tshark', '-n', '-r', str(pcap), *esp.tshark_args(sas), '-T', 'fields',
                          '-e', 'esp.spi', '-e', 'esp.icv_good', '-e', 'udp.dstport', '-e', 'data.data'],
                         capture_output=True, text=True, timeout=60, check=True).stdout.split('\n')
    want = [f'0x{sa.spi:08x}\t1\t5678\t{b"hello-vpn".hex()}' for sa in sas]
    assert out[:2] == want
