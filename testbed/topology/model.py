"""The immutable topology model: what the loader returns and every other part reads.

Mappings are read-only views (MappingProxyType) in file order, so a model can be shared
between the fabric, the controllers and the tests without anyone changing it behind the
others' backs. Mappings are left out of hashing because a mapping view cannot be hashed.
"""
from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from .edge_model import (
    CidrBlock,
    DirectConnect,
    Dns,
    Edge,
    ElasticIp,
    Endpoint,
    EndpointService,
    Hyperplane,
    InstanceMetadata,
    LoadBalancer,
    NatGateway,
    Outside,
    Services,
    VpnConnection,
    empty_mapping,
)

MODES = ("proactive", "reactive")
ENCAPSULATIONS = ("geneve", "vxlan")
TENANCIES = ("default", "dedicated")
STRATEGIES = ("cluster", "spread", "partition")
DEFAULT_GROUP = "default"          # every VPC has one; instances without security_groups join it
LINK_KINDS = ("nic", "uplink")   # a host's cable to its ToR; a ToR's cable to a spine


class TopologyError(Exception):
    """A problem with a topology, shown as one line: FILE:LINE: KEY.PATH: what is wrong; what would be right."""

    def __init__(self, path: str, line: int | None, key: str | None, message: str):
        super().__init__(path, line, key, message)
        self.path, self.line, self.key, self.message = str(path), line, key, message

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        text = ": ".join(part for part in (where, self.key, self.message) if part)
        return text.replace("\n", " ")  # one line, whatever the file's values contain


def _mapping():
    return field(hash=False)


@dataclass(frozen=True)
class PhysicalHost:
    name: str          # "<rack>-h<N>"
    index: int         # 1..N over the fabric in file order; gives dpid and underlay IP
    az: str
    rack: str
    vcpus: int
    memory_gib: int
    underlay_ip: str


@dataclass(frozen=True)
class LinkCondition:
    """Delay and loss on one kind of underlay cable, each way."""
    delay_ms: float = 0.0
    loss_percent: float = 0.0


@dataclass(frozen=True)
class Rack:
    name: str
    az: str
    hosts: tuple       # host names


@dataclass(frozen=True)
class Subnet(CidrBlock):
    name: str
    id: str
    vpc: str
    cidr: str
    az: str

    @property
    def reserved(self) -> dict[ipaddress.IPv4Address, str]:
        """The five addresses AWS keeps for itself in every subnet, with their role."""
        net = self.network
        base = net.network_address
        return {base: "network address", base + 1: "VPC router", base + 2: "DNS server",
                base + 3: "address reserved for future use", net.broadcast_address: "broadcast address"}


@dataclass(frozen=True)
class PlacementGroup:
    name: str
    strategy: str      # cluster | spread | partition
    partitions: int = 2


@dataclass(frozen=True)
class Instance:
    name: str
    id: str
    eni: str
    vpc: str
    subnet: str
    ip: str
    mac: str
    type: str
    tenancy: str
    placement_group: str | None
    partition: int | None  # 1-based, only in a partition placement group
    pinned_host: str | None
    host: str              # where placement put it
    account: str
    line: int = 0          # line of its key in the file, for errors found after loading
    security_groups: tuple = (DEFAULT_GROUP,)
    metadata: InstanceMetadata = InstanceMetadata()

    @property
    def key(self) -> str:
        """Its key path in the file, as errors name it."""
        return f"vpcs.{self.vpc}.instances.{self.name}"


@dataclass(frozen=True)
class Rule:
    """One rule of a security group or network ACL.  `peer` is the other end: a CIDR
    block, or (security groups only) "sg:<group>", the current members of that group."""
    protocol: int | None               # IP protocol number; None: all protocols
    ports: tuple | None                # (first, last) destination port, tcp/udp only; None: all
    peer: str
    number: int | None = None          # network ACLs: evaluated in increasing order
    action: str = "allow"              # network ACLs: allow | deny


ALL_TRAFFIC = Rule(None, None, "0.0.0.0/0")


@dataclass(frozen=True)
class SecurityGroup:
    name: str
    id: str
    inbound: tuple                     # Rules; a packet is allowed if any rule of any group allows it
    outbound: tuple


@dataclass(frozen=True)
class NetworkAcl:
    name: str
    id: str
    subnets: tuple
    inbound: tuple                     # Rules sorted by number; the first match decides
    outbound: tuple


@dataclass(frozen=True)
class Route:
    destination: str                   # CIDR
    target: str                        # local | pcx:<name> | igw | nat:<n> | vgw | dx:<n> | vpce:<n> | blackhole


@dataclass(frozen=True)
class RouteTable:
    name: str
    id: str
    subnets: tuple
    routes: tuple                      # Routes, the local route first

    def route_for(self, ip: str) -> Route | None:
        """The route an address takes: the longest prefix that holds it (None: no route, dropped)."""
        address = ipaddress.IPv4Address(ip)
        best = None
        for route in self.routes:
            net = ipaddress.IPv4Network(route.destination)
            if address in net and (best is None or net.prefixlen > best[0]):
                best = (net.prefixlen, route)
        return best[1] if best else None

    def peering_routes(self) -> tuple[tuple[str, str], ...]:
        """(destination CIDR, peering name) of every pcx: route, longest prefix first: what the data plane
        needs to send a peered destination where this table says (the loader refuses two peerings for
        one destination)."""
        routes = [(r.destination, r.target[4:]) for r in self.routes if r.target.startswith("pcx:")]
        return tuple(sorted(routes, key=lambda r: -ipaddress.IPv4Network(r[0]).prefixlen))


@dataclass(frozen=True)
class VPC:
    name: str
    id: str
    vni: int
    account: str
    cidr: str
    subnets: Mapping[str, Subnet] = _mapping()
    instances: Mapping[str, Instance] = _mapping()
    placement_groups: Mapping[str, PlacementGroup] = _mapping()
    security_groups: Mapping[str, SecurityGroup] = _mapping()
    network_acls: Mapping[str, NetworkAcl] = _mapping()
    route_tables: Mapping[str, RouteTable] = _mapping()
    flow_log_interval_s: int | None = None   # None: no flow logs
    # Leaving the VPC (edge_model; read by gateway_format):
    internet_gateway: str | None = None      # its id, igw-...; None: the VPC has none
    vpn_gateway: str | None = None           # vgw-..., when the VPC has VPN connections (route target vgw)
    dhcp: bool = False                       # instances take their address by DHCP at boot
    elastic_ips: Mapping[str, ElasticIp] = empty_mapping()
    nat_gateways: Mapping[str, NatGateway] = empty_mapping()            # route target nat:<name>
    vpn_connections: Mapping[str, VpnConnection] = empty_mapping()      # route target vgw
    direct_connect: Mapping[str, DirectConnect] = empty_mapping()       # route target dx:<name>
    endpoints: Mapping[str, Endpoint] = empty_mapping()                 # gateway ones: route target vpce:<name>
    load_balancers: Mapping[str, LoadBalancer] = empty_mapping()
    endpoint_services: Mapping[str, EndpointService] = empty_mapping()

    def elastic_ip_of(self, instance: str) -> ElasticIp | None:
        return next((e for e in self.elastic_ips.values() if e.instance == instance), None)

    def network_acl_of(self, subnet: str) -> NetworkAcl | None:
        """The subnet's ACL; None means the default ACL, which allows everything."""
        return next((a for a in self.network_acls.values() if subnet in a.subnets), None)

    def route_table_of(self, subnet: str) -> RouteTable:
        """The subnet's route table, else the main one."""
        return next((t for t in self.route_tables.values() if subnet in t.subnets),
                    self.route_tables[MAIN_ROUTE_TABLE])

    def peering_routes(self) -> dict[str, tuple[tuple[str, str], ...]]:
        """For each subnet, (destination CIDR, peering name) of its route table's pcx: routes, longest
        prefix first: the peering each peered destination prefix goes to."""
        return {subnet: self.route_table_of(subnet).peering_routes() for subnet in self.subnets}

    def peering_for(self, subnet: str, ip: str) -> str | None:
        """The peering that a packet from subnet to ip leaves by, per the subnet's route table, or None."""
        route = self.route_table_of(subnet).route_for(ip)
        return route.target[4:] if route and route.target.startswith("pcx:") else None


MAIN_ROUTE_TABLE = "main"


@dataclass(frozen=True)
class Peering:
    name: str
    id: str
    vpcs: tuple        # (vpc_a, vpc_b), names in file order
    line: int = field(default=0, compare=False)  # line of its vpcs: key, for errors found after loading


@dataclass(frozen=True)
class Topology:
    path: str
    name: str
    region: str
    mode: str
    encapsulation: str
    mtu: int
    spines: int
    azs: tuple
    racks: Mapping[str, Rack] = _mapping()
    hosts: Mapping[str, PhysicalHost] = _mapping()
    accounts: tuple
    vpcs: Mapping[str, VPC] = _mapping()
    peerings: tuple
    links: Mapping[str, LinkCondition] = field(default_factory=dict, hash=False)  # by LINK_KINDS
    outside: Outside = field(default_factory=Outside, hash=False)
    edge: Edge = Edge()
    hyperplane: Hyperplane = Hyperplane()
    services: Services = Services()
    dns: Dns = field(default_factory=Dns, hash=False)

    def find(self, name: str):
        """What a name of the file-wide set names (checks' from: and to:): an instance, an outside host, an
        elastic IP, a load balancer or an endpoint; KeyError if none."""
        for vpc in self.vpcs.values():
            for things in (vpc.instances, vpc.elastic_ips, vpc.load_balancers, vpc.endpoints):
                if name in things:
                    return things[name]
        return self.outside.hosts()[name]

    def instances(self) -> tuple[Instance, ...]:
        """All instances, in file order."""
        return tuple(i for vpc in self.vpcs.values() for i in vpc.instances.values())

    def instance(self, name: str) -> Instance:
        return self.vpc_of(name).instances[name]

    def vpc_of(self, instance_name: str) -> VPC:
        for vpc in self.vpcs.values():
            if instance_name in vpc.instances:
                return vpc
        raise KeyError(instance_name)

    def subnet_of(self, instance_name: str) -> Subnet:
        vpc = self.vpc_of(instance_name)
        return vpc.subnets[vpc.instances[instance_name].subnet]

    def peered_vpc_for(self, vpc: str, subnet: str, ip: str) -> str | None:
        """The VPC that a packet from vpc's subnet to ip reaches by peering, per the route table, or None."""
        peering = self.vpcs[vpc].peering_for(subnet, ip)
        ends = next((p.vpcs for p in self.peerings if p.name == peering), None)
        return None if ends is None else ends[1] if ends[0] == vpc else ends[0]

    def peered(self, vpc_a: str, vpc_b: str) -> bool:
        return any(set(p.vpcs) == {vpc_a, vpc_b} for p in self.peerings if vpc_a != vpc_b)

    def with_mode(self, mode: str) -> Topology:
        if mode not in MODES:
            raise TopologyError(self.path, None, "mode",
                                f"{mode!r} is not a mode; use {' or '.join(MODES)}")
        return dataclasses.replace(self, mode=mode)
