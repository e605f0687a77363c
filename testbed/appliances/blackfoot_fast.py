"""Blackfoot's fast path: elastic-IP traffic to and from the internet with per-flow templates.

Most of what crosses the edge is an instance talking to the internet through its elastic IP.  For
those packets the general path (blackfoot.py, blackfoot_wire.py) parses every header into named
tuples, looks the route up, rewrites with RFC 1624 updates one field at a time and builds each
header anew: about 12 us a packet in CPython.  Here the decisions are made once per flow (the key
is the VNI and the inner addresses, bytes sliced from the frame) and kept as a template:

- outbound (underlay -> internet), on the packet loop's ring fast path: the transmit slot's and the
  outside link's Ethernet header, prebuilt a length; the elastic IP; the IPv4 and L4 checksum
  adjustments of the rewrite (address and TTL), precomputed sums.  Each packet is written straight
  into a slot of the link's transmit ring.
- inbound (internet -> instance): outer Ethernet/IPv4/UDP/Geneve or VXLAN and the inner Ethernet
  header toward the instance's current host, prebuilt (outer IPv4 checksum kept as the sum of the
  header without its length); per packet only the lengths, that checksum and the inner rewrite are
  patched.  The mapping is still asked for every packet, so an elastic IP follows a migration; a
  flow keeps a template per answer (a host, after a migration another).

Hyperplane nodes' traffic (a NAT gateway's, an internet-facing NLB's) takes the same paths:

- a frame a node relays (its underlay address as outer source: the key keeps it, so a node's frame
  never takes a host's template) that `Edge.relay` would send out (`Edge.into_vpc`: its destination
  is neither in the mapping nor another door) is a host's packet from there on.
- one `Edge.relay` delivers into the VPC (a NAT gateway's reply to an instance, an NLB's packet to a
  target) goes unchanged (the general path neither decrements its TTL nor rewrites it) from the
  underlay's receive ring into the underlay's own transmit ring, behind the outer headers of
  inbound's template toward `Edge.deliver`'s answer: the door's, else the mapping's, asked per
  packet (a migration or a node's loss is followed at once); a template per answer.  It counts
  `relayed`; no answer leaves it to the general path, which counts no-mapping.
- Both decisions ("out", "into the VPC") are cached with the flow, so `forget` drops the cached
  decisions whenever the mapping changes (edge_process.Control calls it between two steps of the
  loop); the doors are fixed at start.
- from the internet to a NAT gateway's or an NLB's elastic IP, the node is the door's answer
  (blackfoot_hyperplane.py), asked per packet as `Edge.deliver` asks it (on the rewritten packet:
  a port block moves to a survivor when its node is lost); a template per node.

Anything else -- an ICMP error (its quoted header must be rewritten too), a fragment, an expiring
TTL (also when relayed into the VPC, where nothing of them is rewritten: they are few), a packet
over the MTU, IP options, Geneve options, a route that is not `igw`, an address without an elastic
IP, a destination the mapping or the door has no answer for, traffic of a gateway endpoint -- is
left to the general path, which decides (and counts its drops).  The results are byte for byte
what the general path sends (unit tests compare them); the counters are the same (the edge counts a
`vpclab trace --wire` packet like any other).
"""
import struct
import zlib

from controllers.pipeline import ROUTER_MAC
from testbed.appliances import packet_loop as pl
from testbed.appliances import packets as p
from testbed.appliances.blackfoot import INTERNET, SERVICES, _in, routable
from testbed.appliances.tunnels import geneve_header, vxlan_header

_H = struct.Struct('!H')
TTL_DELTA = 0xfeff          # the TTL/protocol word after TTL - 1: ~w + (w - 0x100), whatever w is
MAX_FLOWS = 1 << 16         # the per-flow caches are emptied when they grow past this
MAX_TEMPLATES = 16          # an inbound flow's templates (one per host or node it went to), likewise
TEMPLATE_LEN = 64           # outer Ethernet, IPv4, UDP, Geneve or VXLAN, inner Ethernet
SLOW = ()                   # a cached "not for the fast path"
IPV4_NO_OPTIONS = b'\x08\x00\x45'       # ethertype IPv4, version 4 and a 20-byte header
GENEVE = b'\x17\xc1'                    # UDP port 6081
GENEVE_PLAIN = b'\x00\x00\x65\x58'      # version 0, no options, no flags, Ethernet inside
VXLAN = b'\x12\xb5'                     # UDP port 4789
L4_CSUM = {p.PROTO_TCP: 16, p.PROTO_UDP: 6}
VPC_ROUTER_MAC = p.mac(ROUTER_MAC)      # inner source MAC of what the edge sends into a VPC


def _key_mask():
    """Which bytes of frame[12:OUT_KEY_END] decide an outbound packet's fate: all but those that
    change from packet to packet of a flow (lengths, IP ids, checksums, TOS, the outer TTL, the
    outer UDP source port) or that neither path looks at (the outer destination, inner MACs,
    reserved).  The outer source stays: a Hyperplane node's packet is relayed, not sent out."""
    ignored = {15, 16, 17, 18, 19, 22, 24, 25, *range(30, 36), 38, 39, 40, 41, 49, *range(50, 62), 65,
               66, 67, 68, 69, 74, 75}
    return int.from_bytes(bytes(0 if i in ignored else 0xff for i in range(12, OUT_KEY_END)), 'big')


OUT_KEY_END = 85        # through the first L4 byte: an ICMP type says whether it is an error
OUT_KEY_MASK = _key_mask()
SHORTEST = {p.PROTO_TCP: 40, p.PROTO_UDP: 28, p.PROTO_ICMP: 28}     # the IPv4 total length needed
# where the outbound drain finds the L4 checksum: ICMP's too, which the rewrite leaves as it is (a zero
# delta: FOLD[0xffff - old] is old), so that every protocol takes the same few steps
CSUM_AT = {**L4_CSUM, p.PROTO_ICMP: 2}
# from frame[66:]: the inner IPv4 total length, its checksum and the L4 checksum, in one call
FIELDS = {proto: struct.Struct(f'!H6xH{CSUM_AT[proto] + 8}xH').unpack_from for proto in SHORTEST}
_from_bytes = int.from_bytes    # big-endian by default (3.11)


class TxLink:
    """An outside link's transmit ring as the outbound drain writes it, and how many it wrote."""

    def __init__(self, port, counter):
        self.port, self.counter, self.sent = port, counter, 0

    def start(self):
        """(ring, base, slot size, end, offset of the next slot) for writing from the port's cursor."""
        q = self.port
        return q.ring, q.tx_base, q.frame_size, q.tx_base + q.frame_count * q.frame_size, \
            q.tx_base + q.tx_cursor * q.frame_size

    def stop(self, t, sent):
        """The writing stopped before offset `t`, having written `sent` frames."""
        self.port.tx_cursor, self.sent = (t - self.port.tx_base) // self.port.frame_size, self.sent + sent


def fold(total):
    """A ones' complement sum folded to 16 bits."""
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return total


def _fold_tables():
    """FOLD[0xffff + d - old] is the checksum `old` after a change whose folded word_delta is d,
    as two bytes (RFC 1624 eq. 3: a list index instead of the arithmetic per packet); FOLD_UDP the
    same with 0 sent as 0xffff (a UDP checksum of 0 means none)."""
    table = [(0xffff - ((x & 0xffff) + (x >> 16))).to_bytes(2, 'big') for x in range(0x1ffff)]
    return table, [b'\xff\xff' if v == b'\0\0' else v for v in table]


FOLD, FOLD_UDP = _fold_tables()


def word_delta(old, new):
    """The ones' complement sum of ~old + new over the 16-bit words of two equal-length byte strings:
    what a checksum needs added when `old` becomes `new` (RFC 1624 eq. 3)."""
    return sum((~((old[i] << 8) | old[i + 1]) & 0xffff) + ((new[i] << 8) | new[i + 1])
               for i in range(0, len(old), 2))


def adjust(csum, delta):
    """The checksum `csum` after a change whose word_delta is `delta`."""
    total = (~csum & 0xffff) + delta
    total = (total & 0xffff) + (total >> 16)
    total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def flow_hash(addresses):
    """The outer UDP source port of a flow (tunnels.flow_port of the same inner addresses)."""
    return 49152 | (zlib.crc32(addresses) & 0x3fff)


def _plain(frame, at, tl):
    """Is the IPv4 packet at `at` (total length `tl`) one the fast path rewrites: not a fragment,
    TCP or UDP with its header there, or ICMP that is not an error?"""
    if frame[at + 6] & 0x3f or frame[at + 7] or len(frame) < at + tl:
        return False
    proto = frame[at + 9]
    if proto == p.PROTO_ICMP:
        return tl >= 28 and frame[at + 20] not in p.ICMP_ERRORS
    off = L4_CSUM.get(proto)
    return off is not None and tl >= 20 + off + 2


def _rewrite(buf, ip, ip_delta, l4_delta, at, new):
    """TTL - 1 and the address at `ip + at` := new, both checksums adjusted, in the bytearray."""
    buf[ip + 8] -= 1
    _H.pack_into(buf, ip + 10, adjust((buf[ip + 10] << 8) | buf[ip + 11], ip_delta))
    buf[ip + at:ip + at + 4] = new
    proto = buf[ip + 9]
    off = L4_CSUM.get(proto)
    if off is None:
        return
    c = ip + 20 + off
    old = (buf[c] << 8) | buf[c + 1]
    if proto == p.PROTO_UDP and old == 0:
        return                  # UDP without a checksum stays without
    value = adjust(old, l4_delta)
    _H.pack_into(buf, c, 0xffff if value == 0 and proto == p.PROTO_UDP else value)


class FastPath:
    """The fast path of an `EdgeHandler`: `outbound_drain(port, limit)` for the underlay's ring (once
    `bind` gave it the loop's ports), `inbound(ifname, frame)` for untagged frames from the internet
    or services link, which returns the loop's [(ifname, frame)] or None (the general path decides)."""

    def __init__(self, handler):
        self.edge, self.underlay, self.counters = handler.edge, handler.underlay, handler.counters
        self.links, self.relays = handler.links, handler.relays
        self.inbound_links = {lk.ifname: lk.name for lk in handler.links.values()
                              if lk.name in (INTERNET, SERVICES) and lk.vlan is None}
        self.out_flows, self.in_flows, self.mtu = {}, {}, self.edge.mtu
        self.out_longest = 64 + self.mtu
        self.tx_links, self.relay_tx = {}, None     # the drain's output rings, from `bind`
        self.slot_heads = [pl.slot_header(n) for n in range(self.out_longest + 1)]     # of an n-byte frame
        # heads[name][end]: the transmit slot's header and the link's Ethernet header of a packet whose
        # inner IPv4 ends at `end` in the underlay frame (the slot holds end - 50 bytes)
        self.heads = {lk.name: [pl.slot_header(max(end - 50, 0)) + p.build_eth(lk.peer_mac, lk.mac, p.ETH_P_IP, b'')
                                for end in range(self.out_longest + 1)]
                      for lk in handler.links.values() if lk.name in (INTERNET, SERVICES)}
        header = geneve_header if self.underlay.encapsulation == 'geneve' else vxlan_header
        self.tunnel_header = header

    # --- underlay -> internet ---------------------------------------------------------------

    def bind(self, ports):
        """Takes the packet loop's ports ({ifname: port}): the outbound drain writes into the
        transmit rings of the internet and services links (a link without one is left to the
        general path), and into the underlay's own for a node's frame relayed into the VPC (the loop
        reads that port's receive ring only in the drain and sends the handler's frames after it, from
        the transmit cursor the drain leaves)."""
        self.tx_links = {name: TxLink(ports[lk.ifname], f'out:{name}') for name, lk in self.links.items()
                         if name in self.heads and getattr(ports.get(lk.ifname), 'tx_base', 0)}
        u = ports.get(self.underlay.ifname)
        self.relay_tx = TxLink(u, 'relayed') if getattr(u, 'tx_base', 0) else None
        self.out_flows.clear()

    def forget(self):
        """The mapping changed (edge_process.Control calls this): the cached decisions of frames a
        Hyperplane node relays ("out", "into the VPC") asked `Edge.into_vpc`, which reads the mapping,
        so they are made again (a host's too: remaking one costs a miss, and the mapping changes
        seldom); where one into the VPC goes is asked per packet anyway.  The doors themselves are
        fixed at start; their failed set changes which node gets a packet (asked per packet), not
        whether a relayed packet goes into the VPC."""
        self.out_flows.clear()

    def outbound_drain(self, port, limit):
        """The packet loop's fast path for the underlay (packet_loop.py): up to `limit` slots of
        `port`'s receive ring; what goes to the internet or the services link is written straight
        into a slot of that link's transmit ring (one join: the prebuilt slot and Ethernet headers,
        the inner packet's unchanged runs and its rewritten fields), the rest is left to the general
        path.  One dict lookup a frame decides; the names are in locals, the bytes read from one copy
        of the frame (cheaper than from the ring), each ring kicked once and the counters added once
        a drain: this is the per-packet cost of the edge."""
        ring, size, count, cursor = port.ring, port.frame_size, port.frame_count, port.cursor
        rest, flows, miss, longest, key_of, mask, join = [], self.out_flows, self._outbound_miss, self.out_longest, \
            _from_bytes, OUT_KEY_MASK, b''.join
        leave, unpack, item, user, zero = rest.append, pl.RX_FIELDS.unpack_from, pl.slot_item, pl.TP_STATUS_USER, \
            pl.ZERO_STATUS
        ours = user | pl.TP_STATUS_VLAN_VALID
        tx = dst = None
        used, dropped, t, tsize, base, tend, mark = [], 0, 0, 0, 0, 0, 0
        first, last = cursor * size, min(cursor + limit, count) * size     # up to the ring's end at most
        for off in range(first, last, size):
            status, length, n, mac_at = unpack(ring, off)
            start = off + mac_at
            if status & ours != user:
                if not status & user:
                    last = off
                    break
                leave(item(ring, off, status, length, ring[start:start + n]))     # tagged: the general path's
                ring[off:off + 4] = zero
                continue
            frame = ring[start:start + n]
            if 92 <= n == length:           # whole
                try:
                    try:
                        flow = flows[key_of(frame[12:OUT_KEY_END]) & mask]
                    except KeyError:
                        flow = miss(frame)
                    if flow is not SLOW and n >= flow[9]:         # its checksums are there to unpack
                        link, heads, ttl_proto, public_dst, ip_k, c, table, l4_k, l4_zero, shortest, fields = flow
                        tl, ip_csum, old = fields(frame, 66)
                        end = 64 + tl
                        slot = None
                        if shortest <= end <= longest and end <= n:
                            # heads None: relayed into the VPC, `ttl_proto` makes the slot (_into_vpc)
                            slot = ttl_proto(frame, end) if heads is None else join((
                                heads[end], frame[64:72], ttl_proto, FOLD[ip_k - ip_csum], public_dst, frame[84:c],
                                table[l4_k - old] if old else l4_zero, frame[c + 2:end]))
                        if slot is not None:
                            if link is not tx:          # another link's ring (sent so far: neither left nor dropped)
                                if tx is not None:
                                    now = (off - first) // size - len(rest) - dropped
                                    tx.stop(t, now - mark)
                                    mark = now
                                tx = link
                                dst, base, tsize, tend, t = link.start()
                                if link not in used:
                                    used.append(link)
                            if dst[t]:                  # the kernel still holds the slot: send what is queued
                                tx.port.kick()
                                if dst[t]:
                                    dropped += 1
                                    ring[off:off + 4] = zero
                                    continue
                            dst[t:t + len(slot)] = slot
                            t += tsize
                            if t == tend:
                                t = base
                            ring[off:off + 4] = zero
                            continue
                except Exception:                           # noqa: BLE001  the general path decides
                    self.counters['fast-path-error'] += 1
            leave(item(ring, off, status, length, frame))
            ring[off:off + 4] = zero                        # after the last read of the slot
        taken = (last - first) // size
        port.cursor = (cursor + taken) % count
        if tx is not None:
            tx.stop(t, taken - len(rest) - dropped - mark)
        sent = 0
        for link in used:
            link.port.kick()
            self.counters[link.counter] += link.sent
            sent, link.sent = sent + link.sent, 0
        return taken, rest, sent, dropped

    def _outbound_miss(self, frame):
        """The cached decision for the flow of `frame` (SLOW or the flow's template), made from the
        bytes the key covers only (the same for every packet of the key)."""
        flow = self._outbound_flow(frame)
        if len(self.out_flows) >= MAX_FLOWS:
            self.out_flows.clear()
        self.out_flows[_from_bytes(frame[12:OUT_KEY_END]) & OUT_KEY_MASK] = flow
        return flow

    def _outbound_flow(self, frame):
        if (frame[12:15] != IPV4_NO_OPTIONS or frame[23] != p.PROTO_UDP or frame[20] & 0x3f or frame[21]
                or frame[62:65] != IPV4_NO_OPTIONS or frame[70] & 0x3f or frame[71] or frame[72] <= 1):
            return SLOW
        dport = frame[36:38]
        if not (dport == GENEVE and frame[42:46] == GENEVE_PLAIN or dport == VXLAN and frame[42] & 0x08):
            return SLOW
        proto = frame[73]
        if proto == p.PROTO_ICMP and frame[84] in p.ICMP_ERRORS or proto not in SHORTEST:
            return SLOW
        vni, src, dst, edge = int.from_bytes(frame[46:49], 'big'), frame[76:80], frame[80:84], self.edge
        if frame[26:30] in self.relays and edge.into_vpc(vni, dst):
            return self._into_vpc(vni, src, dst, proto)     # what Edge.relay sends out is a host's packet
        if edge.routes.lookup(vni, src, dst) != 'igw' or not routable(dst):
            return SLOW
        eip = edge.by_private.get((vni, src))
        name = SERVICES if _in(dst, edge.services) else INTERNET
        link = self.tx_links.get(name)
        if eip is None or link is None:
            return SLOW
        d = word_delta(src, eip.public)
        l4_k = 0xffff + (fold(d) if proto in L4_CSUM else 0)      # an ICMP checksum does not cover the addresses
        c = 84 + CSUM_AT[proto]
        table = FOLD_UDP if proto == p.PROTO_UDP else FOLD
        l4_zero = b'\0\0' if proto == p.PROTO_UDP else table[l4_k]    # UDP without a checksum stays without
        return (link, self.heads[name], bytes((frame[72] - 1, proto)), eip.public + dst,
                0xffff + fold(d + TTL_DELTA), c, table, l4_k, l4_zero, 64 + SHORTEST[proto], FIELDS[proto])

    def _into_vpc(self, vni, src, dst, proto):
        """The flow of a frame a node relays into the VPC, which `Edge.relay` delivers unchanged (no
        TTL, no rewrite): the underlay's ring, and as `ttl_proto` what makes its slot toward
        `Edge.deliver`'s answer, asked per packet (the door's, else the mapping's: a migration or a
        node's loss is followed at once), or None (the general path decides, and counts no-mapping);
        a template per answer."""
        if self.relay_tx is None:
            return SLOW
        key, sport, templates, heads, join = (vni, dst), flow_hash(src + dst), {}, self.slot_heads, b''.join
        door = self.edge.hyperplane.get(key) if self.edge.hyperplane else None
        lookup = self.edge.lookup

        def slot(frame, end):
            packet = frame[64:end]
            where = door(packet) if door else lookup(key)
            if where is None:
                return None
            made = templates.get(where) or self._remember(templates, vni, sport, where)
            if made is None:
                return None
            _, csum, eth_ip, ip_mid, ip_addresses_udp, tunnel_eth = made
            outer = end - 14
            return join((heads[end], eth_ip, _H.pack(outer), ip_mid, FOLD[0xffff + outer - csum], ip_addresses_udp,
                         _H.pack(outer - 20), tunnel_eth, packet))
        return (self.relay_tx, None, slot, None, 0, 0, None, 0, None, 64 + SHORTEST[proto], FIELDS[proto])

    # --- internet -> instance ---------------------------------------------------------------

    def inbound(self, ifname, frame):
        link = self.inbound_links.get(ifname)
        if link is None or len(frame) < 42 or frame[12:15] != IPV4_NO_OPTIONS:
            return None
        tl = (frame[16] << 8) | frame[17]
        if frame[22] <= 1 or not _plain(frame, 14, tl):
            return None
        key = frame[26:34]
        flows = self.in_flows.setdefault(link, {})
        flow = flows.get(key)
        if flow is None:
            flow = self._inbound_flow(link, frame[26:30], frame[30:34])
            if len(flows) >= MAX_FLOWS:
                flows.clear()
            flows[key] = flow
        if flow is SLOW:
            return None
        buf = bytearray(TEMPLATE_LEN) + frame[14:14 + tl]
        _rewrite(buf, TEMPLATE_LEN, flow[2], flow[3], 16, flow[4])
        door = flow[7]
        # Edge.deliver's answer: a Hyperplane node's door is asked the packet as rewritten, per packet
        # (a NAT gateway's port block moves to a survivor when its node is lost)
        where = door(buf[TEMPLATE_LEN:]) if door else self.edge.lookup(flow[0])
        if where is None:
            return None             # the general path counts no-mapping
        templates = flow[1]
        made = templates.get(where) or self._remember(templates, flow[5], flow[6], where)
        if made is None:
            return None
        template, csum = made[0], made[1]
        buf[:TEMPLATE_LEN] = template
        outer = 50 + tl
        _H.pack_into(buf, 16, outer)
        _H.pack_into(buf, 24, adjust(csum, outer))
        _H.pack_into(buf, 38, outer - 20)
        self.counters['in:igw'] += 1
        return [(self.underlay.ifname, buf)]

    def _inbound_flow(self, link, src, dst):
        edge = self.edge
        if link == SERVICES and src in edge.endpoint_by_alias:
            return SLOW
        eip = edge.by_public.get(dst)
        if eip is None or edge.routes.lookup(eip.vni, eip.private, src) != 'igw' or not routable(src):
            return SLOW
        d = word_delta(dst, eip.private)
        key = (eip.vni, eip.private)
        # (mapping key, {answer: (template, outer sum)}, ip delta, l4 delta, the private address, the
        #  VNI, the outer UDP source port, the Hyperplane door of a NAT gateway's or an NLB's address)
        return (key, {}, d + TTL_DELTA, d, eip.private, eip.vni, flow_hash(src + eip.private),
                edge.hyperplane.get(key) if edge.hyperplane else None)

    def _remember(self, templates, vni, sport, where):
        """A flow's template toward `where` (`_template`), made on its first packet there and kept in
        `templates` ({answer: template}, at most MAX_TEMPLATES), or None."""
        made = self._template(vni, sport, where)
        if made is not None:
            if len(templates) >= MAX_TEMPLATES:
                templates.clear()
            templates[where] = made
        return made

    def _template(self, vni, sport, where):
        """(outer Ethernet through the inner Ethernet toward `where`, the outer IPv4 sum without its
        length, and the template cut around the outer lengths and checksum: up to the IPv4 length, from
        it to the checksum, from it to the UDP length, after the UDP checksum) or None (no next hop:
        the general path decides)."""
        u, (host_ip, mac) = self.underlay, where
        next_hop = u.peer(host_ip)
        if next_hop is None:
            return None
        port = 6081 if u.encapsulation == 'geneve' else 4789
        ip = bytearray(struct.pack('!BBHHHBBH4s4s', 0x45, 0, 0, 0, p.IP_DF, 64, p.PROTO_UDP, 0, u.ip, host_ip))
        csum = p.checksum(ip)           # of the header with length 0: adjusted by each length
        template = (p.build_eth(next_hop, u.mac, p.ETH_P_IP, b'') + bytes(ip) +
                    struct.pack('!HHHH', sport, port, 0, 0) + self.tunnel_header(vni) +
                    p.build_eth(mac, VPC_ROUTER_MAC, p.ETH_P_IP, b''))
        return template, csum, template[:16], template[18:24], template[26:38], template[40:]
