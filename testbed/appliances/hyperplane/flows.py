"""Flows on packet bytes: 5-tuples, the rewrites of NAT and load balancing, and what a node answers.

A flow is `Tuple(proto, src, sport, dst, dport)` with 4-byte addresses; for ICMP echo and echo
reply both ports are the identifier (what a NAT translates for pings).  An ICMP error belongs to
the flow of the packet it quotes: `flow_of` says which one and where the quote is, so that the
rewrite of a flow's address and port also rewrites the quoted header (its other side) and fixes the
quoted IP header's checksum and the ICMP checksum.  All rewrites are in place on a `bytearray`
holding one IPv4 packet, checksums updated incrementally (RFC 1624) except the ICMP error's.
"""
import struct
from typing import NamedTuple, Optional

from testbed.appliances import packets as p

PORTED = (p.PROTO_TCP, p.PROTO_UDP)
ICMP_QUERIES = (p.ICMP_ECHO, p.ICMP_ECHO_REPLY)
TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10
# the payload of `vpclab trace --wire`'s packet (testbed/observe/trace_packet.py): a node counts its own
# decision on such a packet apart (wire.py), so the trace reads that one packet whatever else runs
TRACE_MARK = b'vpclab-trace'


class Tuple(NamedTuple):
    proto: int
    src: bytes
    sport: int
    dst: bytes
    dport: int

    def reverse(self):
        return Tuple(self.proto, self.dst, self.dport, self.src, self.sport)


class Forward(NamedTuple):
    """Send the rewritten IPv4 `packet` on (where to: the wiring's business, see README.md)."""
    packet: bytes


class Reply(NamedTuple):
    """Send `packet` back to where the offending packet came from (a TCP RST, an ICMP error)."""
    packet: bytes


class Drop(NamedTuple):
    reason: str


class Seen(NamedTuple):
    tuple: Tuple
    quote: Optional[int]        # offset of the quoted IPv4 header of an ICMP error, else None
    tcp_flags: int


def _l4(buf, off, ip):
    """(sport, dport) of the TCP, UDP or ICMP query packet whose IPv4 header is at `off`, else None."""
    at = off + ip.ihl
    if ip.proto in PORTED and len(buf) >= at + 4:
        return struct.unpack_from('!HH', buf, at)
    if ip.proto == p.PROTO_ICMP and len(buf) >= at + 8 and buf[at] in ICMP_QUERIES:
        ident = struct.unpack_from('!H', buf, at + 4)[0]
        return ident, ident
    return None


def flow_of(buf):
    """A `Seen` for the IPv4 packet `buf`, or None (not a flow: a fragment, an unknown protocol).
    For an ICMP error, `tuple` is the quoted packet's own (in the direction it was sent)."""
    ip = p.parse_ipv4(buf)
    if ip is None or ip.fragment:
        return None
    at = ip.ihl
    if ip.proto == p.PROTO_ICMP and len(buf) >= at + 8 and buf[at] in p.ICMP_ERRORS:
        inner = p.parse_ipv4(buf, at + 8)
        ports = _l4(buf, at + 8, inner) if inner is not None else None
        if ports is None:
            return None
        return Seen(Tuple(inner.proto, inner.src, ports[0], inner.dst, ports[1]), at + 8, 0)
    ports = _l4(buf, 0, ip)
    if ports is None:
        return None
    flags = buf[at + 13] if ip.proto == p.PROTO_TCP and len(buf) >= at + 14 else 0
    return Seen(Tuple(ip.proto, ip.src, ports[0], ip.dst, ports[1]), None, flags)


def answer_key(seen):
    """The tuple a packet answering a flow is looked up by: its own, or for an ICMP error the
    reverse of the one it quotes (the quote went the other way)."""
    return seen.tuple.reverse() if seen.quote is not None else seen.tuple


def _set_port(buf, off, which, port):
    """The `which` port of the packet at `off` becomes `port`, its checksum fixed if it is there."""
    ip = p.parse_ipv4(buf, off)
    at = off + ip.ihl
    if ip.proto == p.PROTO_ICMP:
        field, csum = at + 4, at + 2                # the identifier; ICMP has no pseudo-header
    else:
        field, csum = at + (0 if which == 'src' else 2), at + p.L4_CSUM_OFFSET[ip.proto]
    old = bytes(buf[field:field + 2])
    struct.pack_into('!H', buf, field, port)
    if csum + 2 > len(buf):
        return                                      # a quoted header cut after 8 bytes
    value = struct.unpack_from('!H', buf, csum)[0]
    if ip.proto == p.PROTO_UDP and value == 0:
        return                                      # UDP without a checksum stays so
    value = p.csum_replace(value, old, bytes(buf[field:field + 2]))
    struct.pack_into('!H', buf, csum, 0xffff if ip.proto == p.PROTO_UDP and value == 0 else value)


def rewrite(buf, seen, which, addr, port):
    """The flow's `which` end ('src' or 'dst' of this packet) becomes (addr, port); for an ICMP
    error, the quoted packet's opposite end, the one it was sent from or to."""
    if seen.quote is None:
        p.set_ipv4_address(buf, 0, which, addr)
        _set_port(buf, 0, which, port)
        return
    other = 'dst' if which == 'src' else 'src'
    p.set_ipv4_address(buf, 0, which, addr)
    p.set_ipv4_address(buf, seen.quote, other, addr)
    _set_port(buf, seen.quote, other, port)
    ip = p.parse_ipv4(buf)
    p.fix_icmp_checksum(buf, ip.ihl, ip.total_length - ip.ihl)


def tcp_reset(packet):
    """The RST a middlebox answers a TCP segment with that belongs to no connection (RFC 793)."""
    ip = p.parse_ipv4(packet)
    at = ip.ihl
    sport, dport, seq, ack = struct.unpack_from('!HHII', packet, at)
    flags = packet[at + 13]
    payload = ip.total_length - at - (packet[at + 12] >> 4) * 4
    if flags & TCP_ACK:
        seg_seq, seg_ack, out_flags = ack, 0, TCP_RST
    else:
        seg_len = payload + (1 if flags & TCP_SYN else 0) + (1 if flags & TCP_FIN else 0)
        seg_seq, seg_ack, out_flags = 0, (seq + seg_len) & 0xffffffff, TCP_RST | TCP_ACK
    seg = bytearray(struct.pack('!HHIIBBHHH', dport, sport, seg_seq, seg_ack, 5 << 4, out_flags, 0, 0, 0))
    struct.pack_into('!H', seg, 16, p.l4_checksum(ip.dst, ip.src, p.PROTO_TCP, seg))
    return p.build_ipv4(ip.dst, ip.src, p.PROTO_TCP, bytes(seg))
