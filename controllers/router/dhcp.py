"""DHCP, answered by the virtual router on the instance's own host, like ARP: never across the
underlay.  At boot the instance has no address, so the service namespace (which tells ENIs apart by
their source address) cannot answer it: the pipeline sends the ENI's DHCP frames to the controller,
and `answer(frame, lease)` returns the reply to send back out of the port it came in, or None.

Pure: struct only, no OpenFlow, no packet library.  As AWS's DHCP server does, it hands the ENI its
one fixed address, whatever the client asks for:
- DISCOVER -> OFFER; REQUEST -> ACK if it asks for the ENI's address (from us, when it names a
  server), else NAK (a REQUEST naming another server is not ours: no answer); INFORM -> ACK with
  the options and no address or lease; RELEASE and DECLINE -> nothing (the address stays the ENI's).
- options: subnet mask, broadcast, router (the subnet's .1), DNS server (the VPC's base + 2), domain
  name, interface MTU (26, the VPC's 9001), lease time with renewal (T1) and rebinding (T2) times,
  server identifier (the router).
- addressed as RFC 2131 4.1 says for a server on the client's own link: NAK, and replies with the
  broadcast bit, to 255.255.255.255 and ff:ff:ff:ff:ff:ff; replies to a client that has an address
  (ciaddr) to it; the rest to the offered address at the client's MAC.
"""
import ipaddress
import struct
from collections import namedtuple

from controllers.pipeline import ROUTER_MAC

DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = range(1, 9)
SERVER_PORT, CLIENT_PORT = 67, 68
MAGIC = b"\x63\x82\x53\x63"
BROADCAST_FLAG = 0x8000
BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"
BROADCAST_IP = "255.255.255.255"
MIN_BOOTP = 300                      # RFC 1542: pad the BOOTP message to at least this
(OPT_PAD, OPT_MASK, OPT_ROUTER, OPT_DNS, OPT_DOMAIN, OPT_MTU, OPT_BROADCAST, OPT_REQUESTED, OPT_LEASE, OPT_TYPE,
 OPT_SERVER, OPT_MESSAGE, OPT_T1, OPT_T2, OPT_END) = 0, 1, 3, 6, 15, 26, 28, 50, 51, 53, 54, 56, 58, 59, 255
_ETH = struct.Struct("!6s6sH")
_IP = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")
_BOOTP = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")

Lease = namedtuple("Lease", "mac ip prefix router dns domain mtu lease_s router_mac",
                   defaults=(9001, 3600, ROUTER_MAC))
Lease.__doc__ = """What the router hands one ENI: its MAC and address, the subnet's prefix length and
router (.1), the DNS server (VPC base + 2), the domain name, the MTU, the lease in seconds."""
Request = namedtuple("Request", "type xid flags ciaddr chaddr requested server")


def lease_for(mac, ip, subnet_cidr, vpc_cidr, domain, mtu=9001, lease_s=3600):
    """The Lease of an ENI from its subnet and VPC."""
    subnet, vpc = ipaddress.IPv4Network(subnet_cidr), ipaddress.IPv4Network(vpc_cidr)
    return Lease(mac, ip, subnet.prefixlen, str(subnet.network_address + 1), str(vpc.network_address + 2),
                 domain, mtu, lease_s)


def parse(frame):
    """The DHCP request in an Ethernet frame (IPv4, UDP 68 -> 67, BOOTREQUEST), else None."""
    if len(frame) < _ETH.size + _IP.size:
        return None
    _, src_mac, ethertype = _ETH.unpack_from(frame)
    if ethertype != 0x0800:
        return None
    ver_ihl, _, total, _, frag, _, proto, _, _, _ = _IP.unpack_from(frame, _ETH.size)
    ihl = (ver_ihl & 0x0F) * 4
    if ver_ihl >> 4 != 4 or ihl < 20 or proto != 17 or frag & 0x3FFF or total > len(frame) - _ETH.size:
        return None
    udp = _ETH.size + ihl
    bootp = udp + _UDP.size
    if total < ihl + _UDP.size + _BOOTP.size + len(MAGIC):
        return None
    sport, dport, _, _ = _UDP.unpack_from(frame, udp)
    op, htype, hlen, _, xid, _, flags, ciaddr, _, _, _, chaddr, _, _ = _BOOTP.unpack_from(frame, bootp)
    options_at = bootp + _BOOTP.size
    if (sport, dport, op, htype, hlen) != (CLIENT_PORT, SERVER_PORT, 1, 1, 6) or chaddr[:6] != src_mac \
            or frame[options_at:options_at + 4] != MAGIC:
        return None
    options = _options(frame[options_at + 4:_ETH.size + total])
    if options is None or len(options.get(OPT_TYPE, b"")) != 1:
        return None
    return Request(options[OPT_TYPE][0], xid, flags, _ip(ciaddr), _mac(chaddr[:6]),
                   _ip(options[OPT_REQUESTED]) if len(options.get(OPT_REQUESTED, b"")) == 4 else None,
                   _ip(options[OPT_SERVER]) if len(options.get(OPT_SERVER, b"")) == 4 else None)


def answer(frame, lease):
    """The reply frame to one DHCP request from the ENI `lease` is for, or None (nothing to send)."""
    req = parse(frame)
    if req is None or req.chaddr != lease.mac.lower():
        return None
    if req.type == DISCOVER:
        return build(lease, req, OFFER)
    if req.type == REQUEST:
        if req.server is not None and req.server != lease.router:
            return None                          # it chose another server's offer
        asked = req.requested or (req.ciaddr if req.ciaddr != "0.0.0.0" else None)
        return build(lease, req, ACK if asked == lease.ip else NAK)
    if req.type == INFORM and req.ciaddr == lease.ip:
        return build(lease, req, ACK, inform=True)
    return None                                  # RELEASE, DECLINE, an INFORM from another address


def build(lease, req, kind, inform=False):
    """Ethernet + IPv4 + UDP + BOOTP reply of type `kind` (OFFER, ACK or NAK), checksums included."""
    opts = [(OPT_TYPE, bytes([kind])), (OPT_SERVER, _aton(lease.router))]
    if kind == NAK:
        yiaddr, dst_ip, dst_mac = "0.0.0.0", BROADCAST_IP, BROADCAST_MAC
        opts.append((OPT_MESSAGE, b"requested address is not this interface's"))
    else:
        net = ipaddress.IPv4Network(f"{lease.ip}/{lease.prefix}", strict=False)
        if not inform:
            opts += [(OPT_LEASE, struct.pack("!I", lease.lease_s)), (OPT_T1, struct.pack("!I", lease.lease_s // 2)),
                     (OPT_T2, struct.pack("!I", lease.lease_s * 7 // 8))]
        opts += [(OPT_MASK, net.netmask.packed), (OPT_BROADCAST, net.broadcast_address.packed),
                 (OPT_ROUTER, _aton(lease.router)), (OPT_DNS, _aton(lease.dns)),
                 (OPT_DOMAIN, lease.domain.encode("ascii")), (OPT_MTU, struct.pack("!H", lease.mtu))]
        yiaddr = "0.0.0.0" if inform else lease.ip
        if req.ciaddr != "0.0.0.0":
            dst_ip, dst_mac = req.ciaddr, req.chaddr
        elif req.flags & BROADCAST_FLAG:
            dst_ip, dst_mac = BROADCAST_IP, BROADCAST_MAC
        else:
            dst_ip, dst_mac = lease.ip, req.chaddr
    options = MAGIC + b"".join(bytes([code, len(value)]) + value for code, value in opts) + bytes([OPT_END])
    bootp = _BOOTP.pack(2, 1, 6, 0, req.xid, 0, req.flags, _aton(req.ciaddr), _aton(yiaddr), bytes(4), bytes(4),
                        bytes.fromhex(req.chaddr.replace(":", "")) + bytes(10), bytes(64), bytes(128)) + options
    bootp += bytes(max(0, MIN_BOOTP - len(bootp)))
    return ethernet_ipv4_udp(lease.router_mac, dst_mac, lease.router, dst_ip, SERVER_PORT, CLIENT_PORT, bootp)


def ethernet_ipv4_udp(src_mac, dst_mac, src_ip, dst_ip, sport, dport, payload, ttl=64):
    src, dst = _aton(src_ip), _aton(dst_ip)
    length = _UDP.size + len(payload)
    udp_sum = checksum(src + dst + struct.pack("!BBH", 0, 17, length) + _UDP.pack(sport, dport, length, 0) + payload)
    udp = _UDP.pack(sport, dport, length, udp_sum or 0xFFFF) + payload
    header = _IP.pack(0x45, 0, _IP.size + len(udp), 0, 0, ttl, 17, 0, src, dst)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    eth = _ETH.pack(bytes.fromhex(dst_mac.replace(":", "")), bytes.fromhex(src_mac.replace(":", "")), 0x0800)
    return eth + header + udp


def checksum(data):
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _options(data):
    """{code: value} of a DHCP options field, or None if it is malformed."""
    options, i = {}, 0
    while i < len(data):
        code = data[i]
        if code == OPT_END:
            return options
        if code == OPT_PAD:
            i += 1
            continue
        if i + 1 >= len(data) or i + 2 + data[i + 1] > len(data):
            return None
        options.setdefault(code, data[i + 2:i + 2 + data[i + 1]])
        i += 2 + data[i + 1]
    return options


def _aton(ip):
    return ipaddress.IPv4Address(ip).packed


def _ip(packed):
    return str(ipaddress.IPv4Address(packed))


def _mac(packed):
    return ":".join(f"{b:02x}" for b in packed)
