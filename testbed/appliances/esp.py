"""IPsec ESP in tunnel mode with AES-GCM (RFC 4303, RFC 4106), done in the packet loop.

The lab's kernel has no ESP (docs/platform.md), so Blackfoot and the site's VPN router encrypt and
decrypt in Python.  On the wire: outer IPv4 (protocol 50) / SPI, sequence number / 8-byte IV /
ciphertext of (inner IPv4 packet, padding 1, 2, 3..., pad length, next header 4) / 16-byte ICV.
The AES-GCM nonce is the SA's 4-byte salt and the IV; the additional authenticated data is the SPI and
the 32-bit sequence number.  The IV is the sequence number: GCM needs a nonce never reused under one
key, not an unpredictable one (RFC 4106 section 3.1), and an SA's sequence numbers never repeat.

There is no IKE: both ends derive the same keys from the topology's name and the VPN connection's
name (HKDF-SHA256), one SA per direction.  That is a lab, not security: anyone who has the topology
file can decrypt, which is the point (`tshark_args` lets tshark read a capture).
"""
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from testbed.appliances.packets import PROTO_ESP, PROTO_IPIP, build_ipv4, ip4_text, parse_ipv4

ICV_LEN = 16
IV_LEN = 8
KEY_LEN = 32                # AES-256; the SA's keying material is the key and then the salt
HEADER_LEN = 8 + IV_LEN     # SPI, sequence number, IV
# what ESP adds to an inner packet whose length + 2 is a multiple of 4: outer IPv4, header, ICV, trailer
ESP_OVERHEAD = 20 + HEADER_LEN + ICV_LEN + 2
REPLAY_WINDOW = 64
TSHARK_ALGORITHM = 'AES-GCM with 16 octet ICV [RFC4106]'


class EspError(ValueError):
    """A packet that must be dropped; `reason` says why, for the counters."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


@dataclass
class SecurityAssociation:
    """One direction of a tunnel: packets from `src` to `dst` (4-byte tunnel endpoint addresses)."""
    spi: int
    key: bytes
    salt: bytes
    src: bytes
    dst: bytes
    aead: AESGCM = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        self.aead = AESGCM(self.key)

    @property
    def keying_material(self):
        """The key followed by the salt: what tshark, scapy and `ip xfrm` take as the key."""
        return self.key + self.salt


def derive_sa(topology, connection, direction, src, dst):
    """The SA of `direction` ('to-site' or 'to-edge') of VPN `connection` in topology `topology`:
    the same on both ends and in every run, different for every topology, connection and
    direction."""
    label = f'vpclab/{topology}/{connection}/{direction}'.encode()
    material = HKDF(algorithm=hashes.SHA256(), length=4 + KEY_LEN + 4, salt=b'vpclab-esp-v1',
                    info=label).derive(b'vpclab')
    # SPIs 1-255 are reserved (RFC 4303 section 2.1): set a high bit
    spi = int.from_bytes(material[:4], 'big') | 0x80000000
    return SecurityAssociation(spi, material[4:4 + KEY_LEN], material[4 + KEY_LEN:], src, dst)


def sa_pair(topology, connection, edge_ip, site_ip):
    """(edge -> site SA, site -> edge SA); the edge encrypts with the first, the site with the second."""
    return (derive_sa(topology, connection, 'to-site', edge_ip, site_ip),
            derive_sa(topology, connection, 'to-edge', site_ip, edge_ip))


def encrypt(sa, inner, seq, next_header=PROTO_IPIP):
    """The ESP payload (SPI to ICV) carrying `inner` (an IPv4 packet in tunnel mode) as number `seq`."""
    # pad so that payload, padding and the 2 trailer bytes end on a 4-byte boundary (RFC 4303 2.4)
    pad_len = -(len(inner) + 2) % 4
    plaintext = bytes(inner) + bytes(range(1, pad_len + 1)) + bytes((pad_len, next_header))
    header = struct.pack('!II', sa.spi, seq)
    iv = struct.pack('!Q', seq)
    return header + iv + sa.aead.encrypt(sa.salt + iv, plaintext, header)


def decrypt(sa, payload):
    """(seq, next header, inner packet) of an ESP payload, or EspError (short, wrong SPI, bad ICV)."""
    if len(payload) < HEADER_LEN + ICV_LEN + 4:
        raise EspError('esp-short')
    spi, seq = struct.unpack_from('!II', payload)
    if spi != sa.spi:
        raise EspError('esp-unknown-spi')
    iv = bytes(payload[8:HEADER_LEN])
    try:
        plaintext = sa.aead.decrypt(sa.salt + iv, bytes(payload[HEADER_LEN:]), bytes(payload[:8]))
    except InvalidTag:
        raise EspError('esp-bad-icv') from None
    pad_len, next_header = plaintext[-2], plaintext[-1]
    if pad_len + 2 > len(plaintext):
        raise EspError('esp-bad-padding')
    return seq, next_header, plaintext[:-2 - pad_len]


def tunnel_encrypt(sa, inner, seq, ttl=64):
    """The outer IPv4 packet (tunnel endpoints of `sa`) carrying `inner` in ESP."""
    return build_ipv4(sa.src, sa.dst, PROTO_ESP, encrypt(sa, inner, seq), ttl=ttl, df=False)


def tunnel_decrypt(sa, outer):
    """(seq, inner IPv4 packet) of an outer IPv4 ESP packet for `sa`, or EspError."""
    ip = parse_ipv4(outer)
    if ip is None or ip.proto != PROTO_ESP:
        raise EspError('esp-not-esp')
    seq, next_header, inner = decrypt(sa, bytes(outer[ip.ihl:ip.total_length]))
    if next_header != PROTO_IPIP:
        raise EspError('esp-not-tunnel')
    return seq, inner


class ReplayWindow:
    """The receiver's sliding window (RFC 4303 section 3.4.3): a sequence number is accepted once,
    and only if it is not older than the window.  `check` before decrypting (cheap), `update` only
    after the ICV proved the packet genuine, so a forged packet cannot move the window."""

    def __init__(self, size=REPLAY_WINDOW):
        self.size, self.top, self.bits = size, 0, 0     # bit i: top - i was seen

    def check(self, seq):
        if seq == 0:
            return False                                # the first packet is 1
        if seq > self.top:
            return True
        offset = self.top - seq
        return offset < self.size and not self.bits >> offset & 1

    def update(self, seq):
        if seq > self.top:
            self.bits = (self.bits << (seq - self.top) | 1) & ((1 << self.size) - 1)
            self.top = seq
        else:
            self.bits |= 1 << (self.top - seq)


class Tunnel:
    """Both SAs of one end of a tunnel, with the send counter and the replay window."""

    def __init__(self, outbound, inbound):
        self.outbound, self.inbound = outbound, inbound
        self.seq, self.window = 0, ReplayWindow()

    def seal(self, inner, ttl=64):
        self.seq += 1
        if self.seq >= 1 << 32:
            raise EspError('esp-sequence-exhausted')   # a real SA is rekeyed long before
        return tunnel_encrypt(self.outbound, inner, self.seq, ttl)

    def open(self, outer):
        ip = parse_ipv4(outer)
        if ip is not None and len(outer) >= ip.ihl + 8:
            if not self.window.check(struct.unpack_from('!I', outer, ip.ihl + 4)[0]):
                raise EspError('esp-replay')
        seq, inner = tunnel_decrypt(self.inbound, outer)
        self.window.update(seq)
        return inner


def tshark_uat(sa):
    """One record of Wireshark's `esp_sa` table for `sa` (the file's line, or `-o uat:esp_sa:` value)."""
    return (f'"IPv4","{ip4_text(sa.src)}","{ip4_text(sa.dst)}","0x{sa.spi:08x}","{TSHARK_ALGORITHM}",'
            f'"0x{sa.keying_material.hex()}","NULL",""')


def tshark_args(sas):
    """tshark options that decrypt ESP of the given SAs: `tshark -r CAPTURE *tshark_args(sas)`."""
    args = ['-o', 'esp.enable_encryption_decode:TRUE', '-o', 'esp.enable_authentication_check:TRUE']
    for sa in sas:
        args += ['-o', f'uat:esp_sa:{tshark_uat(sa)}']
    return args
