"""The VPC encapsulation on the underlay: Geneve (UDP 6081) or VXLAN (UDP 4789), VNI = the VPC.

An underlay frame is Ethernet / IPv4 / UDP / Geneve or VXLAN / the instance's Ethernet frame.  The
outer UDP checksum is 0, as OVS sends it (allowed for IPv4 tunnels, RFC 7348 and RFC 8926); the
outer source port is a hash of the inner flow so that the underlay's ECMP spreads flows.
"""
import struct
import zlib
from typing import NamedTuple

from testbed.appliances.packets import ETH_HLEN, ETH_P_IP, PROTO_UDP, build_eth, build_ipv4, parse_eth, parse_ipv4

GENEVE_PORT = 6081
VXLAN_PORT = 4789
PORTS = {'geneve': GENEVE_PORT, 'vxlan': VXLAN_PORT}
ETH_P_TEB = 0x6558              # Geneve's protocol type for an Ethernet frame inside
# outer Ethernet + IPv4 + UDP + the 8-byte tunnel header (Geneve options would add more)
OVERHEAD = ETH_HLEN + 20 + 8 + 8

_UDP = struct.Struct('!HHHH')


class Decapsulated(NamedTuple):
    kind: str               # 'geneve' or 'vxlan'
    vni: int
    outer_src: bytes        # underlay IPv4 address of the sender (the physical host)
    outer_dst: bytes
    inner: bytes            # the instance's Ethernet frame


def geneve_header(vni):
    # version 0, no options, no O/C flags, protocol = Ethernet, 24-bit VNI, reserved byte
    return struct.pack('!BBHI', 0, 0, ETH_P_TEB, (vni & 0xffffff) << 8)


def vxlan_header(vni):
    # flags: the I bit (VNI valid) only
    return struct.pack('!II', 0x08000000, (vni & 0xffffff) << 8)


def parse_tunnel(udp_payload, dport):
    """(vni, offset of the inner frame) of a Geneve or VXLAN header, or None."""
    if len(udp_payload) < 8:
        return None
    if dport == GENEVE_PORT:
        optlen = (udp_payload[0] & 0x3f) * 4
        if udp_payload[0] >> 6 != 0 or struct.unpack_from('!H', udp_payload, 2)[0] != ETH_P_TEB:
            return None
        return int.from_bytes(udp_payload[4:7], 'big'), 8 + optlen
    if dport == VXLAN_PORT and udp_payload[0] & 0x08:
        return int.from_bytes(udp_payload[4:7], 'big'), 8
    return None


def flow_port(inner):
    """An outer UDP source port in 49152-65535 from the inner packet's IPv4 addresses (same flow,
    same port: the underlay keeps a flow on one path; nothing that changes per packet, such as the
    IP id or checksum, goes into it)."""
    return 49152 | (zlib.crc32(bytes(inner[ETH_HLEN + 12:ETH_HLEN + 20])) & 0x3fff)


def encapsulate(inner, vni, outer_src, outer_dst, src_mac, dst_mac, kind='geneve', ttl=64):
    """The underlay frame carrying `inner` (an Ethernet frame) in VPC `vni` from host `outer_src`
    to host `outer_dst` (4-byte addresses), MACs of the underlay hop."""
    tunnel = geneve_header(vni) if kind == 'geneve' else vxlan_header(vni)
    payload = tunnel + bytes(inner)
    udp = _UDP.pack(flow_port(inner), PORTS[kind], 8 + len(payload), 0) + payload
    return build_eth(dst_mac, src_mac, ETH_P_IP, build_ipv4(outer_src, outer_dst, PROTO_UDP, udp, ttl=ttl))


def decapsulate(frame):
    """A `Decapsulated` of an underlay frame, or None if it is not Geneve or VXLAN over IPv4."""
    eth = parse_eth(frame)
    if eth.ethertype != ETH_P_IP:
        return None
    ip = parse_ipv4(frame, eth.offset)
    if ip is None or ip.proto != PROTO_UDP or ip.fragment:
        return None
    udp_at = eth.offset + ip.ihl
    if len(frame) < udp_at + 8:
        return None
    dport = struct.unpack_from('!H', frame, udp_at + 2)[0]
    end = min(len(frame), eth.offset + ip.total_length)
    tunnel = parse_tunnel(bytes(frame[udp_at + 8:end]), dport)
    if tunnel is None:
        return None
    vni, inner_at = tunnel
    kind = 'geneve' if dport == GENEVE_PORT else 'vxlan'
    return Decapsulated(kind, vni, ip.src, ip.dst, bytes(frame[udp_at + 8 + inner_at:end]))
