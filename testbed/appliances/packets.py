"""Ethernet (+802.1Q), IPv4, ICMP, TCP and UDP on bytes, with struct only.

The per-packet work of a packet loop is built from these, so they stay small and cheap: no scapy
(about 100x slower to build or parse a packet).  Addresses are 4-byte `bytes` on the fast path
(`ip4('10.0.1.10')` makes one from text, `ip4_text` the reverse).  Functions that rewrite a packet
take a `bytearray` and an offset, so that a frame is changed in place without copying its payload.
"""
import socket
import struct
from typing import NamedTuple, Optional

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_8021Q = 0x8100
ETH_HLEN = 14
PROTO_ICMP, PROTO_IPIP, PROTO_TCP, PROTO_UDP, PROTO_ESP = 1, 4, 6, 17, 50
IP_DF = 0x4000
IP_MF = 0x2000
ICMP_ECHO_REPLY, ICMP_UNREACHABLE, ICMP_ECHO, ICMP_TIME_EXCEEDED = 0, 3, 8, 11
ICMP_FRAG_NEEDED = 4            # code of type 3: "fragmentation needed and DF set" (RFC 1191)
ICMP_ERRORS = (ICMP_UNREACHABLE, 4, 5, ICMP_TIME_EXCEEDED, 12)   # types that quote a header
# where the checksum sits in each protocol's header (UDP's 0 means "none" and stays 0)
L4_CSUM_OFFSET = {PROTO_TCP: 16, PROTO_UDP: 6, PROTO_ICMP: 2}

_IPV4 = struct.Struct('!BBHHHBBH4s4s')
_ETH = struct.Struct('!6s6sH')
_VLAN = struct.Struct('!HH')


def ip4(text):
    return socket.inet_aton(text)


def ip4_text(addr):
    return socket.inet_ntoa(addr)


def mac(text):
    return bytes.fromhex(text.replace(':', ''))


def mac_text(addr):
    return addr.hex(':')


# --- checksums ------------------------------------------------------------------------------

def checksum(data):
    """The Internet checksum (RFC 1071) of `data`, as the 16-bit value to store."""
    if len(data) % 2:
        data = bytes(data) + b'\0'
    total = sum(struct.unpack(f'!{len(data) // 2}H', data))
    while total > 0xffff:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def csum_replace(csum, old, new):
    """RFC 1624 eq. 3: the checksum after the 16-bit-aligned bytes `old` became `new` (equal
    even lengths), without reading the rest of the packet: HC' = ~(~HC + ~m + m')."""
    total = ~csum & 0xffff
    for i in range(0, len(old), 2):
        total += (~((old[i] << 8) | old[i + 1]) & 0xffff) + ((new[i] << 8) | new[i + 1])
    while total > 0xffff:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def pseudo_header(src, dst, proto, length):
    return src + dst + struct.pack('!BBH', 0, proto, length)


def l4_checksum(src, dst, proto, segment):
    """The TCP or UDP checksum of `segment` (its checksum field zeroed or not: it is skipped)."""
    off = L4_CSUM_OFFSET[proto]
    seg = bytes(segment[:off]) + b'\0\0' + bytes(segment[off + 2:])
    value = checksum(pseudo_header(src, dst, proto, len(seg)) + seg)
    # UDP sends a computed 0 as 0xffff, since 0 means "no checksum" (RFC 768)
    return 0xffff if proto == PROTO_UDP and value == 0 else value


# --- Ethernet -------------------------------------------------------------------------------

class Eth(NamedTuple):
    dst: bytes
    src: bytes
    ethertype: int
    vlan: Optional[int]     # VLAN id of an 802.1Q tag in the frame's bytes, else None
    offset: int             # where the payload starts


def parse_eth(frame):
    dst, src, ethertype = _ETH.unpack_from(frame)
    if ethertype == ETH_P_8021Q:
        tci, ethertype = _VLAN.unpack_from(frame, ETH_HLEN)
        return Eth(dst, src, ethertype, tci & 0x0fff, ETH_HLEN + 4)
    return Eth(dst, src, ethertype, None, ETH_HLEN)


def build_eth(dst, src, ethertype, payload, vlan=None):
    if vlan is None:
        return _ETH.pack(dst, src, ethertype) + payload
    return _ETH.pack(dst, src, ETH_P_8021Q) + _VLAN.pack(vlan & 0x0fff, ethertype) + payload


def push_vlan(frame, vlan):
    """The frame with an 802.1Q tag (priority 0) after its MAC addresses."""
    return bytes(frame[:12]) + _VLAN.pack(ETH_P_8021Q, vlan & 0x0fff) + bytes(frame[12:])


def pop_vlan(frame):
    """(vlan id or None, the frame without its outer 802.1Q tag)."""
    if len(frame) >= 18 and frame[12:14] == b'\x81\x00':
        return ((frame[14] << 8) | frame[15]) & 0x0fff, bytes(frame[:12]) + bytes(frame[16:])
    return None, bytes(frame)


# --- IPv4 -----------------------------------------------------------------------------------

class Ipv4(NamedTuple):
    ihl: int                # header length in bytes
    tos: int
    total_length: int
    ident: int
    flags_frag: int
    ttl: int
    proto: int
    csum: int
    src: bytes
    dst: bytes

    @property
    def df(self):
        return bool(self.flags_frag & IP_DF)

    @property
    def fragment(self):
        """A fragment (not the first, or more follow): its L4 header may not be there."""
        return bool(self.flags_frag & (IP_MF | 0x1fff))


def parse_ipv4(pkt, off=0):
    """The header at `off`, or None if it is not a sane IPv4 header."""
    if len(pkt) - off < 20 or pkt[off] >> 4 != 4:
        return None
    vihl, tos, total, ident, ff, ttl, proto, csum, src, dst = _IPV4.unpack_from(pkt, off)
    ihl = (vihl & 0x0f) * 4
    if ihl < 20 or total < ihl:
        return None
    return Ipv4(ihl, tos, total, ident, ff, ttl, proto, csum, src, dst)


def build_ipv4(src, dst, proto, payload, ttl=64, ident=0, df=True, tos=0):
    """An IPv4 packet without options, header checksum filled in."""
    hdr = _IPV4.pack(0x45, tos, 20 + len(payload), ident, IP_DF if df else 0, ttl, proto, 0, src, dst)
    return hdr[:10] + checksum(hdr).to_bytes(2, 'big') + hdr[12:] + payload


def _store16(buf, off, value):
    buf[off] = value >> 8
    buf[off + 1] = value & 0xff


def _csum16(buf, off):
    return (buf[off] << 8) | buf[off + 1]


def set_ipv4_address(buf, off, which, new, fix_l4=True):
    """Rewrites the source (`which`='src') or destination ('dst') address of the IPv4 packet at
    `off` in the bytearray `buf` in place, fixing the header checksum and, with `fix_l4`, the TCP
    or UDP checksum (whose pseudo-header holds the address) incrementally.  A UDP checksum of 0
    (none) stays 0, and the L4 header of a non-first fragment is not touched."""
    hdr = parse_ipv4(buf, off)
    at = off + (12 if which == 'src' else 16)
    old = bytes(buf[at:at + 4])
    buf[at:at + 4] = new
    _store16(buf, off + 10, csum_replace(hdr.csum, old, new))
    csum_at = L4_CSUM_OFFSET.get(hdr.proto) if fix_l4 and hdr.proto != PROTO_ICMP else None
    if csum_at is None or hdr.flags_frag & 0x1fff:
        return
    c = off + hdr.ihl + csum_at
    if c + 2 > len(buf) or (hdr.proto == PROTO_UDP and _csum16(buf, c) == 0):
        return      # truncated (a quoted header inside an ICMP error) or UDP without a checksum
    value = csum_replace(_csum16(buf, c), old, new)
    _store16(buf, c, 0xffff if hdr.proto == PROTO_UDP and value == 0 else value)


def decrement_ttl(buf, off):
    """TTL - 1 in place with the checksum fixed; returns the new TTL (0: the packet must die)."""
    ttl = buf[off + 8]
    if ttl == 0:
        return 0
    old = bytes(buf[off + 8:off + 10])
    buf[off + 8] = ttl - 1
    _store16(buf, off + 10, csum_replace(_csum16(buf, off + 10), old, bytes(buf[off + 8:off + 10])))
    return ttl - 1


# --- ICMP -----------------------------------------------------------------------------------

def build_icmp(icmp_type, code, rest, data):
    """An ICMP message: type, code, checksum, the 4 bytes `rest` (id/seq, next-hop MTU...), data."""
    body = struct.pack('!BBH', icmp_type, code, 0) + rest + data
    return body[:2] + checksum(body).to_bytes(2, 'big') + body[4:]


def icmp_error(src, offending, icmp_type, code, rest=b'\0\0\0\0', ttl=64):
    """An ICMP error from `src` about the IPv4 packet `offending`, sent back to its source, quoting
    its header and the first 8 bytes of its payload (RFC 792)."""
    hdr = parse_ipv4(offending)
    quote = bytes(offending[:hdr.ihl + 8])
    return build_ipv4(src, hdr.src, PROTO_ICMP, build_icmp(icmp_type, code, rest, quote), ttl=ttl, df=False)


def frag_needed(src, offending, mtu):
    """ICMP type 3 code 4 with the next-hop MTU (RFC 1191), for path MTU discovery."""
    return icmp_error(src, offending, ICMP_UNREACHABLE, ICMP_FRAG_NEEDED, struct.pack('!HH', 0, mtu))


def fix_icmp_checksum(buf, off, length):
    """Recomputes the checksum of the ICMP message of `length` bytes at `off` (after a rewrite
    of a quoted header: it covers the whole message, so an incremental update saves little)."""
    buf[off + 2:off + 4] = b'\0\0'
    _store16(buf, off + 2, checksum(bytes(buf[off:off + length])))


def fragment(pkt, mtu):
    """The IPv4 packet `pkt` as fragments of at most `mtu` bytes (RFC 791), for a packet without DF
    that is too large for the next link.  Options stay in the first fragment only (a
    simplification: RFC 791 copies those with the copy flag; the lab's packets carry none)."""
    hdr = parse_ipv4(pkt)
    payload = bytes(pkt[hdr.ihl:hdr.total_length])
    step = (mtu - 20) // 8 * 8
    base_offset, more = hdr.flags_frag & 0x1fff, hdr.flags_frag & IP_MF
    out = []
    for start in range(0, len(payload), step):
        chunk = payload[start:start + step]
        last = start + step >= len(payload)
        ff = base_offset + start // 8 | (more if last else IP_MF)
        head = bytearray(pkt[:hdr.ihl] if start == 0 else pkt[:20])
        head[0] = 0x40 | len(head) // 4
        struct.pack_into('!HHHH', head, 2, len(head) + len(chunk), hdr.ident, ff, hdr.ttl << 8 | hdr.proto)
        struct.pack_into('!H', head, 10, 0)
        struct.pack_into('!H', head, 10, checksum(head))
        out.append(bytes(head) + chunk)
    return out


# --- ARP (the edge answers for the addresses it owns on its outside links) -----------------

_ARP = struct.Struct('!HHBBH6s4s6s4s')


def arp_request_target(frame, offset=ETH_HLEN):
    """(sender MAC, sender IP, target IP) of an Ethernet/IPv4 ARP request, else None."""
    if len(frame) < offset + 28:
        return None
    htype, ptype, hlen, plen, op, sha, spa, _, tpa = _ARP.unpack_from(frame, offset)
    if (htype, ptype, hlen, plen, op) != (1, ETH_P_IP, 6, 4, 1):
        return None
    return sha, spa, tpa


def arp_reply(my_mac, my_ip, to_mac, to_ip):
    """The Ethernet frame answering `to_ip`'s request: `my_ip` is at `my_mac`."""
    return build_eth(to_mac, my_mac, ETH_P_ARP, _ARP.pack(1, ETH_P_IP, 6, 4, 2, my_mac, my_ip, to_mac, to_ip))


def proxy_arp_reply(frame, offset, my_mac):
    """The reply of a router that answers for every address (proxy ARP) to the ARP request in
    `frame`, or None (not a request, or a gratuitous one announcing the sender's own address)."""
    asked = arp_request_target(frame, offset)
    if asked is None or asked[2] == asked[1]:
        return None
    sender_mac, sender_ip, target_ip = asked
    return arp_reply(my_mac, target_ip, sender_mac, sender_ip)
