"""The keys of a VPC for leaving it: internet gateway, DHCP, elastic IPs, NAT gateways, VPN connections,
Direct Connect, endpoints, load balancers and endpoint services; and the route targets that name them.

A VPC's gateways are read once all VPCs' subnets, instances and route tables are (vpc_format), so that
every reference within the VPC can be checked; what spans VPCs or needs the main route tables (interface
endpoints, the routes of gateway endpoints, automatic elastic-IP addresses) is finished by `finish`.
"""
from __future__ import annotations

import dataclasses
import ipaddress
from types import MappingProxyType

from .edge_model import (
    LISTENER_PROTOCOLS,
    S3_SERVICE,
    SCHEMES,
    DirectConnect,
    ElasticIp,
    Endpoint,
    EndpointService,
    HealthCheck,
    LbAddress,
    Listener,
    LoadBalancer,
    NatGateway,
    Outside,
    Services,
    VpnConnection,
)
from .ids import Ids
from .limits import ELASTIC_IP_POOL, HEALTH_THRESHOLDS, MAX_HEALTH_INTERVAL, MAX_INSTANCE_NAME, MAX_VLAN
from .model import MAIN_ROUTE_TABLE, VPC, Route, Topology
from .values import Names, Pool, choices, hint, name
from .yaml_nodes import Node

GATEWAY_KEYS = ("internet_gateway", "dhcp", "elastic_ips", "nat_gateways", "vpn_connections", "direct_connect",
                "endpoints", "load_balancers", "endpoint_services")
DEFAULT_ROUTE = "0.0.0.0/0"
PUBLIC_ROUTE = f"{{destination: {DEFAULT_ROUTE}, target: igw}}"


class GatewayReader:
    """State shared by the VPCs of one file: the elastic-IP pool, VLANs per site, what `finish` completes."""

    def __init__(self, ids: Ids, names: Names, outside: Outside, services: Services, accounts: tuple):
        self.ids, self.names, self.outside, self.services, self.accounts = ids, names, outside, services, accounts
        self.eips = Pool(ipaddress.IPv4Network(ELASTIC_IP_POOL), 1, 1, "the elastic-IP pool", "in the elastic-IP "
                         "pool", lambda ip: "network address" if ip.packed[3] == 0 else "broadcast address")
        self.vlans: dict[tuple[str, int], tuple[str, int]] = {}   # (site, vlan) -> (connection, line)
        self.site_vpcs: dict[str, dict[str, tuple[ipaddress.IPv4Network, int]]] = {}  # site -> vpc -> (CIDR, line)
        self.public: list[tuple[str, str, Node]] = []             # (vpc, elastic IP or load balancer, its key)
        self.interface: list[tuple[str, str, Node]] = []          # (vpc, endpoint, its service: node)
        self.routes: list[tuple[str, str, str, Node]] = []        # (vpc, gateway endpoint, table, node)
        self.gateway_endpoints = 0                                  # so far: each takes an alias on the S3 host

    def read(self, spec: dict[str, Node], vpc: VPC, pools: dict[str, Pool], targets: list,
             instance_vpcs: dict[str, str]) -> dict:
        """The gateway fields of vpc (for dataclasses.replace), after checking its route targets."""
        fields = {"internet_gateway": self.ids.id("igw", vpc.name) if _flag(spec, "internet_gateway") else None,
                  "dhcp": _flag(spec, "dhcp")}
        vpc = dataclasses.replace(vpc, **fields)
        eips = self._elastic_ips(spec.get("elastic_ips"), vpc, instance_vpcs)
        connected: dict[str, int] = {}           # site -> line: the sites this VPC connects to
        vpn = self._vpn(spec.get("vpn_connections"), vpc, connected)
        fields.update(
            elastic_ips=eips, vpn_connections=vpn,
            vpn_gateway=self.ids.id("vgw", vpc.name) if vpn else None,
            nat_gateways=self._nat_gateways(spec.get("nat_gateways"), vpc, eips, pools),
            direct_connect=self._direct_connect(spec.get("direct_connect"), vpc, connected),
            endpoints=self._endpoints(spec.get("endpoints"), vpc, pools))
        lbs = self._load_balancers(spec.get("load_balancers"), vpc, pools, instance_vpcs)
        fields.update(load_balancers=lbs, endpoint_services=self._endpoint_services(
            spec.get("endpoint_services"), vpc, lbs))
        fields = {k: MappingProxyType(v) if isinstance(v, dict) else v for k, v in fields.items()}
        _check_targets(targets, dataclasses.replace(vpc, **fields))
        return fields

    # --- elastic IPs and NAT gateways ---------------------------------------------------------------

    def _elastic_ips(self, node: Node | None, vpc: VPC, instance_vpcs: dict) -> dict[str, ElasticIp]:
        eips: dict[str, ElasticIp] = {}
        owners: dict[str, tuple[str, int]] = {}   # instance -> (elastic IP, line)
        for eip, key, body in self._named(node, "elastic IP"):
            spec = body.mapping(("instance", "address")) if not body.is_null else {}
            instance = None
            if "instance" in spec:
                instance = _own_instance(spec["instance"], vpc, instance_vpcs, "an elastic IP is associated with")
                if instance in owners:
                    spec["instance"].fail(f"instance {instance} already has elastic IP {owners[instance][0]} (line "
                                          f"{owners[instance][1]}); an instance has one elastic IP")
                if not vpc.internet_gateway:
                    spec["instance"].fail(f"vpc {vpc.name} has no internet gateway, and AWS associates an elastic "
                                          f"IP only in a VPC with one; add internet_gateway: true to vpc {vpc.name}")
                owners[instance] = (eip, spec["instance"].line)
            address = ""
            if "address" in spec:
                address = str(self.eips.take(spec["address"], f"elastic IP {eip}", "address"))
            else:
                self.public.append((vpc.name, eip, key))
            eips[eip] = ElasticIp(eip, self.ids.id("eipalloc", eip), vpc.name, address, instance)
        return eips

    def _nat_gateways(self, node: Node | None, vpc: VPC, eips: dict, pools: dict) -> dict[str, NatGateway]:
        nats: dict[str, NatGateway] = {}
        used: dict[str, tuple[str, int]] = {}     # elastic IP -> (NAT gateway, line)
        for nat, _, body in node.named() if node else ():
            spec = body.mapping(("subnet", "elastic_ip"), {"subnet": f"subnet: {_first(vpc.subnets)}",
                                                           "elastic_ip": f"elastic_ip: {_first(eips, 'nat-eip')}"})
            subnet = spec["subnet"].choice(vpc.subnets, f"a subnet of vpc {vpc.name}")
            eip = spec["elastic_ip"].choice(eips, f"an elastic IP of vpc {vpc.name}")
            if eips[eip].instance:
                spec["elastic_ip"].fail(f"elastic IP {eip} is associated with instance {eips[eip].instance}; a NAT "
                                        f"gateway needs one of its own (an elastic IP without instance: {{}})")
            if eip in used:
                spec["elastic_ip"].fail(f"elastic IP {eip} is already the address of NAT gateway {used[eip][0]} "
                                        f"(line {used[eip][1]}); give each NAT gateway its own")
            used[eip] = (nat, spec["elastic_ip"].line)
            _public_subnet(spec["subnet"], vpc, subnet, "a NAT gateway")
            ip = _address(pools[subnet], spec["subnet"], f"NAT gateway {nat}", vpc.subnets[subnet])
            nats[nat] = NatGateway(nat, self.ids.id("nat", f"{vpc.name}/{nat}"), vpc.name, subnet, eip, ip)
        return nats

    # --- sites: VPN and Direct Connect ----------------------------------------------------------------

    def _site(self, node: Node, vpc: VPC, connected: dict[str, int]) -> str:
        site = node.choice(self.outside.sites, "a site of outside.sites")
        net = self.outside.sites[site].network
        if net.overlaps(ipaddress.IPv4Network(vpc.cidr)):
            node.fail(f"site {site} ({net}) overlaps vpc {vpc.name} ({vpc.cidr}), so their addresses could not be "
                      f"told apart; connect a site whose CIDR does not overlap the VPC's, or change one CIDR")
        for other in connected:
            other_net = self.outside.sites[other].network
            if other != site and net.overlaps(other_net):
                node.fail(f"site {site} ({net}) overlaps site {other} ({other_net}), which vpc {vpc.name} already "
                          f"connects to (line {connected[other]}); connect sites whose CIDRs do not overlap")
        own = ipaddress.IPv4Network(vpc.cidr)
        for other, (other_net, line) in self.site_vpcs.get(site, {}).items():
            if other != vpc.name and own.overlaps(other_net):
                node.fail(f"site {site} already connects to vpc {other} ({other_net}, line {line}), which overlaps "
                          f"vpc {vpc.name} ({own}), so the site's router could not tell their addresses apart; "
                          f"connect the site to VPCs whose CIDRs do not overlap")
        self.site_vpcs.setdefault(site, {}).setdefault(vpc.name, (own, node.line))
        connected.setdefault(site, node.line)
        return site

    def _vpn(self, node: Node | None, vpc: VPC, connected: dict) -> dict[str, VpnConnection]:
        connections: dict[str, VpnConnection] = {}
        for vpn, _, body in node.named() if node else ():
            spec = body.mapping(("site",), {"site": f"site: {_first(self.outside.sites, 'corp')}"})
            site = self._site(spec["site"], vpc, connected)
            other = next((c for c in connections.values() if c.site == site), None)
            if other:
                spec["site"].fail(f"site {site} already has VPN connection {other.name} to vpc {vpc.name}; "
                                  f"connect each site once")
            connections[vpn] = VpnConnection(vpn, self.ids.id("vpn", f"{vpc.name}/{vpn}"), vpc.name, site)
        return connections

    def _direct_connect(self, node: Node | None, vpc: VPC, connected: dict) -> dict[str, DirectConnect]:
        connections: dict[str, DirectConnect] = {}
        for dx, _, body in node.named() if node else ():
            spec = body.mapping(("site", "vlan"), {"site": f"site: {_first(self.outside.sites, 'corp')}",
                                                   "vlan": "vlan: 101"})
            site = self._site(spec["site"], vpc, connected)
            vlan = spec["vlan"].integer(1, MAX_VLAN)
            if (site, vlan) in self.vlans:
                other, line = self.vlans[site, vlan]
                spec["vlan"].fail(f"VLAN {vlan} is already used on the link to site {site} by Direct Connect "
                                  f"{other} (line {line}); pick another VLAN")
            self.vlans[site, vlan] = (dx, spec["vlan"].line)
            connections[dx] = DirectConnect(dx, self.ids.id("dxcon", f"{vpc.name}/{dx}"), vpc.name, site, vlan)
        return connections

    # --- endpoints ------------------------------------------------------------------------------------

    def _endpoints(self, node: Node | None, vpc: VPC, pools: dict) -> dict[str, Endpoint]:
        endpoints: dict[str, Endpoint] = {}
        for ep, _, body in self._named(node, "endpoint"):
            spec = body.mapping(("service", "route_tables", "subnet"), {"service": f"service: {S3_SERVICE}"})
            service = _service(spec["service"])
            eid = self.ids.id("vpce", f"{vpc.name}/{ep}")
            wrong = "subnet" if service == S3_SERVICE else "route_tables"
            if wrong in spec:
                spec[wrong].fail("subnet applies only to interface endpoints (service: <vpc>/<endpoint service>); "
                                 "a gateway endpoint takes route_tables" if wrong == "subnet" else
                                 "route_tables applies only to gateway endpoints (service: s3); an interface "
                                 "endpoint takes a subnet, and is reached by its address there")
            if service == S3_SERVICE:
                listed = spec.get("route_tables")
                tables = choices(listed, (*vpc.route_tables, MAIN_ROUTE_TABLE), f"a route table of vpc {vpc.name}",
                                 "route table") if listed else ()
                self.routes += [(vpc.name, ep, t, n) for t, n in zip(tables, listed.sequence() if listed else ())]
                self._alias(body)
                endpoints[ep] = Endpoint(ep, eid, vpc.name, service, route_tables=tables)
                continue
            if "subnet" not in spec:
                body.fail(f"'subnet' is missing; an interface endpoint takes an address in a subnet, for example "
                          f"subnet: {_first(vpc.subnets)}")
            subnet = spec["subnet"].choice(vpc.subnets, f"a subnet of vpc {vpc.name}")
            ip = _address(pools[subnet], spec["subnet"], f"endpoint {ep}", vpc.subnets[subnet])
            self.interface.append((vpc.name, ep, spec["service"]))
            endpoints[ep] = Endpoint(ep, eid, vpc.name, service, subnet=subnet, ip=ip)
        return endpoints

    def _alias(self, body: Node):
        """Room on the S3 host for one more gateway endpoint's alias (Services.gateway_alias)."""
        self.gateway_endpoints += 1
        if self.services.gateway_alias(self.gateway_endpoints - 1) is None:
            net = ipaddress.IPv4Network(self.services.s3_cidr)
            larger = net.supernet(new_prefix=min(24, net.prefixlen - 1))
            body.fail(f"services.s3.cidr {net} has room for {self.gateway_endpoints - 1} gateway endpoints (each "
                      f"takes an address on the S3 host), and this is number {self.gateway_endpoints}; use a larger "
                      f"S3 network, like {larger}")

    # --- load balancers and endpoint services -----------------------------------------------------------

    def _load_balancers(self, node: Node | None, vpc: VPC, pools: dict, instance_vpcs: dict) -> dict:
        lbs: dict[str, LoadBalancer] = {}
        ends: dict[tuple[str, int], tuple[str, int]] = {}     # (target, target_port) -> (load balancer, line)
        for lb, key, body in self._named(node, "load balancer"):
            spec = body.mapping(("subnets", "scheme", "listeners", "health_check"),
                                {"subnets": f"subnets: [{_first(vpc.subnets)}]"})
            subnets = choices(spec["subnets"], vpc.subnets, f"a subnet of vpc {vpc.name}", "subnet")
            if not subnets:
                spec["subnets"].fail("the list is empty; a load balancer has a node in each of its subnets, so "
                                     "name at least one")
            azs: dict[str, str] = {}
            for subnet, item in zip(subnets, spec["subnets"].sequence()):
                az = vpc.subnets[subnet].az
                if az in azs:
                    item.fail(f"subnet {subnet} is in {az} like subnet {azs[az]}; a load balancer takes one subnet "
                              f"per AZ")
                azs[az] = subnet
            scheme = spec["scheme"].choice(SCHEMES, "a scheme") if "scheme" in spec else "internet-facing"
            if scheme == "internet-facing":
                if not vpc.internet_gateway:
                    (spec.get("scheme") or key).fail(
                        f"an internet-facing load balancer needs an internet gateway, and vpc {vpc.name} has none; "
                        f"add internet_gateway: true to vpc {vpc.name}, or use scheme: internal")
                self.public.append((vpc.name, lb, key))
            listeners = self._listeners(spec.get("listeners"), vpc, instance_vpcs)
            _one_balancer_per_target_port(lb, listeners, spec.get("listeners") or key, ends)
            check = _health_check(spec.get("health_check"))
            addresses = tuple(LbAddress(s, _address(pools[s], spec["subnets"], f"load balancer {lb}",
                                                    vpc.subnets[s])) for s in subnets)
            lb_id = f"net/{lb}/{self.ids.id('net', f'{vpc.name}/{lb}')[4:20]}"
            lbs[lb] = LoadBalancer(lb, lb_id, vpc.name, scheme, subnets, listeners, check, addresses)
        return lbs

    def _listeners(self, node: Node | None, vpc: VPC, instance_vpcs: dict) -> tuple[Listener, ...]:
        listeners: list[Listener] = []
        ports: dict[int, int] = {}
        for item in node.sequence() if node else ():
            spec = item.mapping(("port", "protocol", "targets", "target_port"),
                                {"port": "port: 80", "targets": f"targets: [{_first(vpc.instances, 'web-1')}]"})
            port = spec["port"].integer(1, 65535)
            if port in ports:
                spec["port"].fail(f"port {port} already has a listener (line {ports[port]}); one listener per port")
            ports[port] = spec["port"].line
            if "protocol" in spec:
                spec["protocol"].choice(LISTENER_PROTOCOLS, "a listener protocol (this version's load balancers "
                                                            "are network load balancers for tcp)")
            targets: list[str] = []
            for target in spec["targets"].sequence():
                instance = _own_instance(target, vpc, instance_vpcs, "a load balancer targets")
                if instance in targets:
                    target.fail(f"target {instance} is listed twice; list each target once")
                targets.append(instance)
            target_port = spec["target_port"].integer(1, 65535) if "target_port" in spec else port
            listeners.append(Listener(port, "tcp", tuple(targets), target_port))
        return tuple(listeners)

    def _endpoint_services(self, node: Node | None, vpc: VPC, lbs: dict) -> dict[str, EndpointService]:
        services: dict[str, EndpointService] = {}
        used: dict[str, tuple[str, int]] = {}
        for svc, _, body in node.named() if node else ():
            spec = body.mapping(("load_balancer", "allowed_accounts"),
                                {"load_balancer": f"load_balancer: {_first(lbs, 'web-nlb')}"})
            lb = spec["load_balancer"].choice(lbs, f"a load balancer of vpc {vpc.name}")
            if lb in used:
                spec["load_balancer"].fail(f"load balancer {lb} already serves endpoint service {used[lb][0]} "
                                           f"(line {used[lb][1]}); a load balancer serves one endpoint service")
            used[lb] = (svc, spec["load_balancer"].line)
            allowed = (choices(spec["allowed_accounts"], self.accounts, "an account of this file", "account")
                       if "allowed_accounts" in spec else ())
            services[svc] = EndpointService(svc, self.ids.id("vpce-svc", f"{vpc.name}/{svc}"), vpc.name,
                                            vpc.account, lb, allowed)
        return services

    def _named(self, node: Node | None, kind: str):
        """Entries whose names are in the file-wide set of names (checks name them)."""
        for key_name, key, body in node.named(MAX_INSTANCE_NAME) if node else ():
            self.names.claim(key, key_name, kind)
            yield key_name, key, body

    # --- what spans VPCs ----------------------------------------------------------------------------------

    def finish(self, topo: Topology) -> dict[str, VPC]:
        """Interface endpoints checked against their services, gateway endpoints' routes added to their
        tables (the main ones included), and automatic public addresses given, in file order."""
        for vpc_name, ep, node in self.interface:
            provider, svc = topo.vpcs[vpc_name].endpoints[ep].provider
            if provider not in topo.vpcs:
                node.fail(f"vpc {provider!r} is not a VPC of this file; {hint(provider, list(topo.vpcs))}")
            service = topo.vpcs[provider].endpoint_services.get(svc)
            if service is None:
                node.fail(f"{svc!r} is not an endpoint service of vpc {provider}; "
                          f"{hint(svc, list(topo.vpcs[provider].endpoint_services))}")
            account = topo.vpcs[vpc_name].account
            if not service.allows(account):
                node.fail(f"endpoint service {provider}/{svc} does not allow account {account} (of vpc {vpc_name}), "
                          f"so AWS refuses the endpoint; add {account} to its allowed_accounts")
        tables = {name: dict(vpc.route_tables) for name, vpc in topo.vpcs.items()}
        s3 = self.services.s3_cidr
        for vpc_name, ep, table_name, node in self.routes:
            table = tables[vpc_name][table_name]
            route = next((r for r in table.routes if r.destination == s3), None)
            if route is not None:
                node.fail(f"route table {table_name} already routes {s3} (the S3 prefix) to {route.target}; a "
                          f"gateway endpoint adds that route itself, so remove the other route or endpoint")
            tables[vpc_name][table_name] = dataclasses.replace(table, routes=(*table.routes, Route(s3, "vpce:" + ep)))
        eips = {name: dict(vpc.elastic_ips) for name, vpc in topo.vpcs.items()}
        lbs = {name: dict(vpc.load_balancers) for name, vpc in topo.vpcs.items()}
        for vpc_name, thing, key in self.public:   # in file order: VPC by VPC, elastic IPs first
            if thing in eips[vpc_name]:
                eip = eips[vpc_name][thing]
                eips[vpc_name][thing] = dataclasses.replace(eip, address=self._public_ip(f"elastic IP {thing}", key))
            else:
                lb = lbs[vpc_name][thing]
                lbs[vpc_name][thing] = dataclasses.replace(lb, addresses=tuple(
                    dataclasses.replace(a, public_ip=self._public_ip(f"load balancer {thing}", key))
                    for a in lb.addresses))
        return {name: dataclasses.replace(vpc, route_tables=MappingProxyType(tables[name]),
                                          elastic_ips=MappingProxyType(eips[name]),
                                          load_balancers=MappingProxyType(lbs[name]))
                for name, vpc in topo.vpcs.items()}

    def _public_ip(self, who: str, key: Node) -> str:
        ip = self.eips.next(who, key.line)
        if ip is None:
            key.fail(f"the elastic-IP pool ({ELASTIC_IP_POOL}) has no free address left for {who}; use fewer "
                     f"elastic IPs and internet-facing load balancers")
        return str(ip)


# --- parts ------------------------------------------------------------------------------------------------

def _flag(spec: dict, key: str) -> bool:
    return spec[key].boolean() if key in spec else False


def _first(mapping, default: str = "my-subnet") -> str:
    return next(iter(mapping), default)


def _one_balancer_per_target_port(lb: str, listeners, node: Node, ends: dict) -> None:
    """The VPC router finds an NLB's replies by target address and port (the client's address is
    preserved, so nothing else tells them apart): one load balancer per target and port."""
    for listener in listeners:
        for target in listener.targets:
            other = ends.setdefault((target, listener.target_port), (lb, node.line))
            if other[0] != lb:
                node.fail(f"{target}:{listener.target_port} is already a target of load balancer {other[0]} (line "
                          f"{other[1]}); this lab tells a target's replies apart by its address and port, so give "
                          f"this listener another target_port")


def _own_instance(node: Node, vpc: VPC, instance_vpcs: dict, what: str) -> str:
    text = node.text()
    other = instance_vpcs.get(text)
    if other is not None and other != vpc.name:
        node.fail(f"{text} is an instance of vpc {other}, not of vpc {vpc.name}; {what} instances of its own VPC")
    return node.choice(vpc.instances, f"an instance of vpc {vpc.name}")


def _service(node: Node) -> str:
    text = node.text()
    if text == S3_SERVICE:
        return text
    vpc, slash, service = text.partition("/")
    if not slash:
        node.fail(f"{text!r} is not a service; use s3 (a gateway endpoint) or <vpc>/<endpoint service> (an "
                  f"interface endpoint, PrivateLink), like shop/api-svc")
    name(node, vpc)
    name(node, service)
    return text


def _public_subnet(node: Node, vpc: VPC, subnet: str, what: str) -> None:
    """A subnet whose route table sends 0.0.0.0/0 to the internet gateway, in a VPC that has one."""
    if not vpc.internet_gateway:
        node.fail(f"vpc {vpc.name} has no internet gateway, which {what} needs; add internet_gateway: true to "
                  f"vpc {vpc.name}")
    table = next((t for t in vpc.route_tables.values() if subnet in t.subnets), None)
    route = next((r for r in table.routes if r.destination == DEFAULT_ROUTE), None) if table else None
    if route is None or route.target != "igw":
        where = f"route table {table.name}" if table else f"the {MAIN_ROUTE_TABLE} route table"
        sends = f"sends {DEFAULT_ROUTE} to {route.target}" if route else f"has no route for {DEFAULT_ROUTE}"
        node.fail(f"subnet {subnet} is not public: {where} {sends}, so {what} there cannot reach the internet; "
                  f"use a subnet whose route table has {PUBLIC_ROUTE}")


def _address(pool: Pool, node: Node, who: str, subnet) -> str:
    ip = pool.next(who, node.line)
    if ip is None:
        node.fail(f"subnet {subnet.name} ({subnet.cidr}) has no free address left for {who}; use a larger subnet "
                  f"or another one")
    return str(ip)


def _health_check(node: Node | None) -> HealthCheck:
    spec = node.mapping(("port", "interval_s", "healthy", "unhealthy")) if node else {}
    low, high = HEALTH_THRESHOLDS
    default = HealthCheck()
    return HealthCheck(
        port=spec["port"].integer(1, 65535) if "port" in spec else None,
        interval_s=spec["interval_s"].integer(1, MAX_HEALTH_INTERVAL) if "interval_s" in spec else default.interval_s,
        healthy=spec["healthy"].integer(low, high) if "healthy" in spec else default.healthy,
        unhealthy=spec["unhealthy"].integer(low, high) if "unhealthy" in spec else default.unhealthy)


def _check_targets(targets: list, vpc: VPC) -> None:
    """Every route target that names a gateway of the VPC names one it has."""
    for kind, target, node in targets:
        if kind == "igw" and not vpc.internet_gateway:
            node.fail(f"vpc {vpc.name} has no internet gateway; add internet_gateway: true to vpc {vpc.name}, or "
                      f"route elsewhere")
        if kind == "vgw" and not vpc.vpn_connections:
            node.fail(f"vpc {vpc.name} has no VPN connection, so no virtual private gateway; add one under "
                      f"vpn_connections, like corp-vpn: {{site: corp}}")
        if kind == "nat" and target not in vpc.nat_gateways:
            node.fail(f"nat:{target} is not a NAT gateway of vpc {vpc.name}; {hint(target, list(vpc.nat_gateways))}")
        if kind == "dx" and target not in vpc.direct_connect:
            node.fail(f"dx:{target} is not a Direct Connect connection of vpc {vpc.name}; "
                      f"{hint(target, list(vpc.direct_connect))}")
        if kind == "vpce":
            gateways = [e for e, ep in vpc.endpoints.items() if ep.type == "gateway"]
            if target in vpc.endpoints and target not in gateways:
                node.fail(f"vpce:{target} is an interface endpoint, which is reached by its address, not by a "
                          f"route; route to a gateway endpoint (service: s3)")
            if target not in gateways:
                node.fail(f"vpce:{target} is not a gateway endpoint of vpc {vpc.name}; {hint(target, gateways)}")
