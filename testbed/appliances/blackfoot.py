"""Blackfoot, the edge between the VPCs and everything outside them: its decisions, as pure code.

`Edge` takes an IPv4 packet and says what becomes of it; its state (elastic IPs, routes, VPN
tunnels, Direct Connect VLANs, gateway endpoints, the mapping) is handed in by the caller, so the
unit tests need no lab.  Framing (Geneve/VXLAN, Ethernet, ARP) is blackfoot_wire.py's job.

- `outbound(vni, packet)`: a packet a VPC's route table sent to a gateway.  The edge looks up the
  route again (`Routes`: per VPC and source subnet, longest destination prefix; targets as in the
  topology: `igw`, `vgw`, `dx:<connection>`, `vpce:<endpoint>`) and: for `igw` rewrites the private
  source to the elastic IP (1:1, and the quoted packet of an ICMP error too); for `vgw` seals it in
  ESP toward the site whose CIDR holds the destination; for `dx:` sends it with the connection's
  VLAN; for `vpce:` sends it to S3 keeping the private source (see "gateway endpoints" below).
- `inbound(link, packet, vlan)`: a packet from an outside link.  It reaches an instance only if the
  instance's subnet would route the reply back the way it came (to `igw` for the internet, `vgw`,
  `dx:<connection>`, `vpce:<endpoint>`): an address without an elastic IP, or in a subnet without a
  route to igw, is unreachable from the internet.  It is re-encapsulated toward the instance's
  current host from the mapping (so an elastic IP follows a migration).
- The edge is a router hop with MTU 1500 (1446 inside ESP, so that the ESP packet fits 1500): a
  larger packet with DF gets ICMP "fragmentation needed" back (path MTU discovery), one without DF
  is fragmented; TTL is decremented and an expiring outbound packet gets ICMP "time exceeded"
  (traceroute shows the edge).

Gateway endpoints: how S3 learns the endpoint id.  The S3 host has its service address (what the
S3 prefix and DNS name give) and one alias address per gateway endpoint (`GatewayEndpoint.alias`).
Blackfoot sends endpoint traffic to the endpoint's alias, keeping the private source; the S3
server reports as `x-vpclab-endpoint` the endpoint of the local address the connection arrived on
(`s3.py --endpoint ALIAS=ID`), and `-` on its service address (through the internet gateway, where
it sees the elastic IP).  Replies from an alias are mapped back to the service address, and the
alias also says which VPC a private destination belongs to, so overlapping VPC CIDRs work.  Nothing
rides in the packet (no IP option, no VLAN: the S3 host's kernel has no 802.1Q module).
"""
import ipaddress
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple, Optional

from testbed.appliances import packets as p
from testbed.appliances.esp import ESP_OVERHEAD, EspError, Tunnel

EDGE_MTU = 1500
VPN_MTU = EDGE_MTU - ESP_OVERHEAD          # 1446, the MTU AWS gives its site-to-site VPN
INTERNET, SERVICES = 'internet', 'services'


class ToHost(NamedTuple):
    """Encapsulate `packet` in VPC `vni` to physical host `host_ip`, inner Ethernet to `mac`."""
    vni: int
    host_ip: bytes
    mac: bytes
    packet: bytes


class ToLink(NamedTuple):
    """Send `packet` out of outside link `link` ('internet', 'services', 'vpn:<name>', 'dx:<name>')
    with 802.1Q tag `vlan` (None: untagged)."""
    link: str
    packet: bytes
    vlan: Optional[int] = None


class Drop(NamedTuple):
    reason: str


def _net(cidr):
    n = ipaddress.ip_network(cidr)
    return int(n.network_address), int(n.netmask), n.prefixlen


def _in(addr, net):
    return int.from_bytes(addr, 'big') & net[1] == net[0]


# never routed between a VPC and the internet: "this network", loopback, link-local (the VPC's own
# 169.254.169.253/.254 among them), multicast and the reserved block with 255.255.255.255
UNROUTABLE = [_net(c) for c in ('0.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '224.0.0.0/3')]


def routable(addr):
    return not any(_in(addr, net) for net in UNROUTABLE)


class Routes:
    """The edge-relevant routes of every VPC: (vni, source subnet) -> [(destination, target)]."""

    def __init__(self):
        self.by_vni = {}

    def add(self, vni, subnet, destination, target):
        entries = self.by_vni.setdefault(vni, [])
        entries.append((_net(subnet), _net(destination), target))
        entries.sort(key=lambda e: -e[1][2])        # longest destination prefix first

    def lookup(self, vni, src, dst):
        for subnet, destination, target in self.by_vni.get(vni, ()):
            if _in(src, subnet) and _in(dst, destination):
                return target
        return None


@dataclass(frozen=True)
class ElasticIp:
    public: bytes
    vni: int
    private: bytes


@dataclass
class VpnConnection:
    name: str
    vni: int
    site_cidr: str
    tunnel: Tunnel          # the edge's end: outbound SA edge -> site, inbound site -> edge


@dataclass(frozen=True)
class DirectConnect:
    name: str
    vni: int
    site_cidr: str
    vlan: int


@dataclass(frozen=True)
class GatewayEndpoint:
    name: str               # the id S3 reports as x-vpclab-endpoint
    vni: int
    service_address: bytes  # the S3 host's address (in the S3 prefix)
    alias: bytes            # the S3 host's address for this endpoint


def translate(buf, which, new):
    """1:1 NAT in place: the packet's `which` address ('src' or 'dst') becomes `new`; in an ICMP error
    the quoted packet's other address, which was the one rewritten on the way out, too."""
    hdr = p.parse_ipv4(buf)
    p.set_ipv4_address(buf, 0, which, new)
    quote = hdr.ihl + 8
    if (hdr.proto == p.PROTO_ICMP and not hdr.fragment and buf[hdr.ihl] in p.ICMP_ERRORS
            and p.parse_ipv4(buf, quote) is not None and len(buf) >= quote + 20):
        p.set_ipv4_address(buf, quote, 'dst' if which == 'src' else 'src', new)
        p.fix_icmp_checksum(buf, hdr.ihl, len(buf) - hdr.ihl)


@dataclass
class Edge:
    routes: Routes
    mapping: object                     # dict or callable: (vni, private ip) -> (host ip, mac) or None
    icmp_source: bytes                  # the edge's own address, source of the ICMP it sends
    elastic_ips: list = field(default_factory=list)
    vpns: list = field(default_factory=list)
    direct_connects: list = field(default_factory=list)
    endpoints: list = field(default_factory=list)
    services_cidr: str = '198.18.0.0/24'
    hyperplane: object = None           # (vni, private ip) -> door(packet) -> (node ip, mac); blackfoot_hyperplane
    mtu: int = EDGE_MTU
    counters: Counter = field(default_factory=Counter)

    def __post_init__(self):
        self.lookup = self.mapping.get if isinstance(self.mapping, dict) else self.mapping
        self.by_public = {e.public: e for e in self.elastic_ips}
        self.by_private = {(e.vni, e.private): e for e in self.elastic_ips}
        self.vpn_by_name = {v.name: v for v in self.vpns}
        self.dx_by_name = {d.name: d for d in self.direct_connects}
        self.endpoint_by_name = {e.name: e for e in self.endpoints}
        self.endpoint_by_alias = {e.alias: e for e in self.endpoints}
        self.services = _net(self.services_cidr)

    def drop(self, reason):
        self.counters[f'drop:{reason}'] += 1
        return [Drop(reason)]

    # --- from a VPC ---------------------------------------------------------------------------

    def outbound(self, vni, packet):
        ip = p.parse_ipv4(packet)
        if ip is None:
            return self.drop('not-ipv4')
        target = self.routes.lookup(vni, ip.src, ip.dst)
        if target is None:
            return self.drop('no-route')
        kind, _, name = target.partition(':')
        step = {'igw': self._to_internet, 'vgw': self._to_vpn, 'dx': self._to_dx,
                'vpce': self._to_endpoint}.get(kind)
        if step is None:
            return self.drop('target-not-edge')
        if ip.ttl <= 1:
            self.counters['icmp:time-exceeded'] += 1
            return self.deliver(vni, p.icmp_error(self.icmp_source, packet, p.ICMP_TIME_EXCEEDED, 0))
        mtu = VPN_MTU if kind == 'vgw' else self.mtu
        if ip.total_length > mtu and ip.df:
            # before any rewrite, so that the ICMP goes to the private address and quotes it
            self.counters['icmp:frag-needed'] += 1
            return self.deliver(vni, p.frag_needed(self.icmp_source, packet, mtu))
        buf = bytearray(packet[:ip.total_length])
        p.decrement_ttl(buf, 0)
        return step(vni, ip, buf, name)

    def _send(self, buf, link, mtu=None, vlan=None, seal=None):
        # only packets without DF are still too big here: outbound() bounced the others
        mtu = mtu or self.mtu
        pieces = [bytes(buf)] if len(buf) <= mtu else p.fragment(bytes(buf), mtu)
        self.counters[f'out:{link}'] += len(pieces)
        try:
            return [ToLink(link, seal(x) if seal else x, vlan) for x in pieces]
        except EspError as e:
            return self.drop(e.reason)

    def _to_internet(self, vni, ip, buf, _):
        if not routable(ip.dst):
            return self.drop('unroutable-destination')
        eip = self.by_private.get((vni, ip.src))
        if eip is None:
            return self.drop('no-elastic-ip')
        translate(buf, 'src', eip.public)
        return self._send(buf, SERVICES if _in(ip.dst, self.services) else INTERNET)

    def _to_vpn(self, vni, ip, buf, _):
        for vpn in self.vpns:
            if vpn.vni == vni and _in(ip.dst, _net(vpn.site_cidr)):
                return self._send(buf, f'vpn:{vpn.name}', VPN_MTU, seal=vpn.tunnel.seal)
        return self.drop('no-vpn-connection')

    def _to_dx(self, vni, ip, buf, name):
        dx = self.dx_by_name.get(name)
        if dx is None or dx.vni != vni:
            return self.drop('no-dx-connection')
        return self._send(buf, f'dx:{name}', vlan=dx.vlan)

    def _to_endpoint(self, vni, ip, buf, name):
        ep = self.endpoint_by_name.get(name)
        if ep is None or ep.vni != vni:
            return self.drop('no-endpoint')
        if ip.dst != ep.service_address:
            return self.drop('not-the-service')
        translate(buf, 'dst', ep.alias)
        return self._send(buf, SERVICES)

    # --- from outside -------------------------------------------------------------------------

    def inbound(self, link, packet, vlan=None):
        kind, _, name = link.partition(':')
        if kind == 'vpn':
            vpn = self.vpn_by_name[name]
            try:
                packet = vpn.tunnel.open(packet)
            except EspError as e:
                return self.drop(e.reason)
            return self._admit(vpn.vni, packet, 'vgw', vpn.site_cidr)
        if kind == 'dx':
            dx = self.dx_by_name[name]
            if vlan != dx.vlan:
                return self.drop('wrong-vlan')
            return self._admit(dx.vni, packet, link, dx.site_cidr)
        ip = p.parse_ipv4(packet)
        if ip is None:
            return self.drop('not-ipv4')
        if not routable(ip.src):        # e.g. the VPC's DNS server's or metadata's address, forged
            return self.drop('unroutable-source')
        ep = self.endpoint_by_alias.get(ip.src) if link == SERVICES else None
        if ep is not None:
            return self._admit(ep.vni, packet, f'vpce:{ep.name}', rewrite=('src', ep.service_address))
        eip = self.by_public.get(ip.dst)
        if eip is None:
            return self.drop('no-elastic-ip')
        return self._admit(eip.vni, packet, 'igw', rewrite=('dst', eip.private))

    def _admit(self, vni, packet, came_via, site_cidr=None, rewrite=None):
        """Into VPC `vni` if the destination's subnet routes the reply back via `came_via`."""
        ip = p.parse_ipv4(packet)
        if ip is None:
            return self.drop('not-ipv4')
        if site_cidr is not None and not _in(ip.src, _net(site_cidr)):
            return self.drop('source-not-site')
        buf = bytearray(packet[:ip.total_length])
        if rewrite:
            translate(buf, *rewrite)
        hdr = p.parse_ipv4(buf)
        if self.routes.lookup(vni, hdr.dst, hdr.src) != came_via:
            return self.drop(f'no-route-to-{came_via.partition(":")[0]}')
        if p.decrement_ttl(buf, 0) == 0:
            return self.drop('ttl-expired')
        self.counters[f'in:{came_via}'] += 1
        return self.deliver(vni, bytes(buf))

    def deliver(self, vni, packet):
        """Toward the destination instance's current host, from the mapping; a NAT gateway's or an
        NLB's address toward the Hyperplane node that holds the flow."""
        door = self.hyperplane.get((vni, packet[16:20])) if self.hyperplane else None
        where = door(packet) if door else self.lookup((vni, packet[16:20]))
        if where is None:
            return self.drop('no-mapping')
        host_ip, mac = where
        return [ToHost(vni, host_ip, mac, packet)]

    def into_vpc(self, vni, dst):
        """Does a packet a Hyperplane node relays to `dst` go into the VPC (an instance's address in
        the mapping, or another Hyperplane door) rather than out?"""
        return self.lookup((vni, dst)) is not None or bool(self.hyperplane and self.hyperplane.get((vni, dst)))

    def relay(self, vni, packet):
        """A packet a Hyperplane node sends on: into the VPC if its destination is there (the node
        holds no mapping), else out as if the VPC had sent it (a NAT gateway's, an NLB's reply)."""
        if not self.into_vpc(vni, packet[16:20]):
            return self.outbound(vni, packet)
        self.counters['relayed'] += 1
        return self.deliver(vni, packet)
