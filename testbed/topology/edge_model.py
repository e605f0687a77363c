"""Model objects for leaving the VPC: outside networks, the edge, Hyperplane, VPC services and gateways.

Immutable like the rest of the model (model.py), read by outside_format and gateway_format. Names the
data plane relies on (Mininet nodes, addresses) are defined here, once:
- internet hosts and site hosts are Mininet nodes named as in the file; the S3 host is `s3`;
- a site's routers are `<site>-vpn` and `<site>-dx`, at the site's network address + 2 and + 3 (+ 1 is
  the site's own router, the gateway of its hosts);
- the S3 host answers at services.s3.cidr's network address + 10, and gateway endpoint i (0-based, in file
  order) at + 11 + i, its alias.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .limits import DEFAULT_INTERNET_HOST, S3_DEFAULT_CIDR

HTTP_TOKENS = ("optional", "required")
SCHEMES = ("internal", "internet-facing")
LISTENER_PROTOCOLS = ("tcp",)
S3_HOST = "s3"
S3_HOST_OFFSET = 10               # the S3 host's service address in its network
S3_SERVICE = "s3"                  # endpoints: service: s3 is a gateway endpoint


def empty_mapping():
    """A field holding a read-only mapping, empty unless given."""
    return field(default_factory=lambda: MappingProxyType({}), hash=False)


# --- outside: networks that are not VPCs -------------------------------------------------------

@dataclass(frozen=True)
class InternetHost:
    name: str
    ip: str
    dns_name: str | None = None


@dataclass(frozen=True)
class SiteHost:
    name: str
    site: str
    ip: str


class CidrBlock:
    """What a subnet and a site share: a `cidr`, whose network address + 1 is its router."""
    cidr: str

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr)

    @property
    def gateway_ip(self) -> str:
        return str(self.network.network_address + 1)


@dataclass(frozen=True)
class Site(CidrBlock):
    """An on-premises data centre, reached from VPCs by VPN connections and Direct Connect; its router
    (gateway_ip) is its hosts' default gateway."""
    name: str
    cidr: str
    hosts: Mapping[str, SiteHost] = empty_mapping()

    @property
    def vpn_router(self) -> str:
        return f"{self.name}-vpn"

    @property
    def vpn_router_ip(self) -> str:
        return str(self.network.network_address + 2)

    @property
    def dx_router(self) -> str:
        return f"{self.name}-dx"

    @property
    def dx_router_ip(self) -> str:
        return str(self.network.network_address + 3)


def _default_internet() -> Mapping[str, InternetHost]:
    name, ip = DEFAULT_INTERNET_HOST
    return MappingProxyType({name: InternetHost(name, ip)})


@dataclass(frozen=True)
class Outside:
    internet: Mapping[str, InternetHost] = field(default_factory=_default_internet, hash=False)
    sites: Mapping[str, Site] = empty_mapping()

    def hosts(self) -> dict[str, InternetHost | SiteHost]:
        """Every outside host by name: internet hosts, then each site's hosts, in file order."""
        hosts: dict = dict(self.internet)
        for site in self.sites.values():
            hosts.update(site.hosts)
        return hosts


@dataclass(frozen=True)
class Edge:
    """Blackfoot: the edge hosts through which traffic leaves and enters VPCs."""
    nodes: int = 1


STATE_STORES = ("embedded", "etcd")     # testbed/state_store BACKENDS


@dataclass(frozen=True)
class Hyperplane:
    """Flow-tracking nodes for NAT gateways, NLBs and PrivateLink; each resource uses shard_size of them."""
    nodes: int = 2
    shard_size: int = 2
    state_store: str = "embedded"      # embedded | etcd: where membership and port-block claims live


@dataclass(frozen=True)
class Services:
    s3_cidr: str = S3_DEFAULT_CIDR

    @property
    def s3_host(self) -> str:
        return S3_HOST

    @property
    def s3_ip(self) -> str:
        return str(ipaddress.IPv4Network(self.s3_cidr).network_address + S3_HOST_OFFSET)

    def gateway_alias(self, i: int) -> str | None:
        """Gateway endpoint i's alias on the S3 host (how S3 tells the endpoint), after its service address;
        None when the S3 network has no room left for it."""
        net = ipaddress.IPv4Network(self.s3_cidr)
        alias = net.network_address + S3_HOST_OFFSET + 1 + i
        return str(alias) if alias < net.broadcast_address else None


@dataclass(frozen=True)
class DnsRecord:
    name: str                          # as written, relative to the zone: db
    fqdn: str                          # db.corp.internal
    ip: str
    instance: str | None = None        # the instance it names, if it was written as one


@dataclass(frozen=True)
class PrivateZone:
    name: str                          # corp.internal
    vpcs: tuple                        # the VPCs whose DNS answers for it
    records: Mapping[str, DnsRecord] = empty_mapping()


@dataclass(frozen=True)
class Dns:
    private_zones: Mapping[str, PrivateZone] = empty_mapping()

    def zones_for(self, vpc: str) -> tuple[PrivateZone, ...]:
        return tuple(z for z in self.private_zones.values() if vpc in z.vpcs)


# --- in a VPC -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InstanceMetadata:
    """The instance metadata options (AWS defaults: IMDSv1 and v2 both answered, hop limit 1)."""
    http_tokens: str = "optional"      # optional | required (IMDSv2 only)
    hop_limit: int = 1                 # 1 to 64: the IP TTL of the token's PUT response


@dataclass(frozen=True)
class ElasticIp:
    name: str
    id: str                            # eipalloc-...
    vpc: str
    address: str                       # from 203.0.113.0/24
    instance: str | None = None        # the instance it is associated with; None: free (for a NAT gateway)


@dataclass(frozen=True)
class NatGateway:
    name: str
    id: str                            # nat-...
    vpc: str
    subnet: str
    elastic_ip: str                    # name of one of the VPC's elastic IPs
    ip: str                            # its private address in the subnet


@dataclass(frozen=True)
class VpnConnection:
    name: str
    id: str                            # vpn-...
    vpc: str
    site: str


@dataclass(frozen=True)
class DirectConnect:
    name: str
    id: str                            # dxcon-...
    vpc: str
    site: str
    vlan: int                          # 802.1Q VLAN on the link to the site's DX router


@dataclass(frozen=True)
class Endpoint:
    """A gateway endpoint (service s3: routes to the S3 prefix) or an interface endpoint (PrivateLink)."""
    name: str
    id: str                            # vpce-...
    vpc: str
    service: str                       # s3 | <vpc>/<endpoint service>
    route_tables: tuple = ()           # gateway endpoints: the tables given the route to the S3 prefix
    subnet: str | None = None          # interface endpoints: where its address is
    ip: str | None = None              # interface endpoints: its address in the subnet

    @property
    def type(self) -> str:
        return "gateway" if self.service == S3_SERVICE else "interface"

    @property
    def provider(self) -> tuple[str, str] | None:
        """(vpc, endpoint service) of an interface endpoint."""
        if self.service == S3_SERVICE:
            return None
        vpc, _, service = self.service.partition("/")
        return vpc, service


@dataclass(frozen=True)
class HealthCheck:
    """TCP health checks of a load balancer's targets (AWS's NLB defaults)."""
    port: int | None = None            # None: each listener's target_port ("traffic port")
    interval_s: int = 30
    healthy: int = 5                   # consecutive successes before a target is healthy
    unhealthy: int = 2                 # consecutive failures before it is not

    def port_for(self, listener: Listener) -> int:
        return self.port or listener.target_port


@dataclass(frozen=True)
class Listener:
    port: int
    protocol: str                      # tcp
    targets: tuple                     # instance names of the load balancer's VPC
    target_port: int


@dataclass(frozen=True)
class LbAddress:
    """One node of a load balancer: one per subnet, as in AWS."""
    subnet: str
    ip: str                            # private address in the subnet
    public_ip: str | None = None       # internet-facing: from the elastic-IP pool


@dataclass(frozen=True)
class LoadBalancer:
    name: str
    id: str                            # net/<name>/<16 hex digits>, as in an NLB's ARN
    vpc: str
    scheme: str                        # internal | internet-facing
    subnets: tuple
    listeners: tuple
    health_check: HealthCheck
    addresses: tuple                   # LbAddress per subnet, in the order of subnets


@dataclass(frozen=True)
class EndpointService:
    name: str
    id: str                            # vpce-svc-...
    vpc: str
    account: str                       # the owner: always allowed
    load_balancer: str
    allowed_accounts: tuple = ()

    def allows(self, account: str) -> bool:
        return account == self.account or account in self.allowed_accounts
