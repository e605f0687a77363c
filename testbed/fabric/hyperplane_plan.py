"""Hyperplane as a plan: which nodes exist and which resources (NAT gateways, NLBs, interface
endpoints) each serves, pure data from the topology (fabric/hyperplane.py builds it, the controller
configuration and Blackfoot's read it).

    underlay ── spine ── hp<k> (a dedicated host, packet loop on its underlay cable)

Node k is on the underlay like an edge host: address 100.127.254.<k>, MAC 02:aa:fb:00:00:<k>, a cable
to spine (k - 1) % spines + 1 at port 3000 + k, static flows on the ToRs and spines.  A resource is
served by `sharding.shard(resource id, node names, shard_size, failed)`: a failed node is taken
out of every shard and never replaced.
"""
import ipaddress
from dataclasses import asdict, dataclass, field

from testbed import run_dir as run_dir_files
from testbed.appliances.hyperplane import sharding

NODE_UNDERLAY = ipaddress.IPv4Address('100.127.254.0')   # + k: below the edge's 100.127.255.<k>
NODE_SPINE_PORT = 3000                                   # + k: node k's cable on its spine
KINDS = ('nat', 'nlb', 'endpoint')


@dataclass(frozen=True)
class Node:
    name: str           # 'hp1' (the Mininet host is the lab's prefix + name)
    k: int
    ip: str             # underlay address
    mac: str

    @property
    def spine_port(self):
        return NODE_SPINE_PORT + self.k


@dataclass(frozen=True)
class Resource:
    kind: str                       # 'nat' | 'nlb' | 'endpoint'
    id: str                         # nat-..., net/<name>/..., vpce-...
    name: str
    vpc: str                        # the VPC it answers in (an endpoint's: the consumer's)
    vni: int
    ips: list                       # the private addresses it answers at
    subnets: list
    listeners: list = field(default_factory=list)   # [(protocol, port, target_port, [targets])]
    shard: list = field(default_factory=list)       # node names serving it, live only
    public_ips: list = field(default_factory=list)  # elastic IPs (NAT; internet-facing NLB), as ips
    provider: dict = field(default_factory=dict)    # endpoint: vpc, vni, load_balancer, nlb_ip, service

    def as_dict(self):
        return asdict(self)


STORE_SOCKET = 'hyperplane-store.sock'     # in the run directory: the lab serves its store there
COUNTERS_SUFFIX = '-counters.json'         # <node><suffix> in the run directory: what the node counted


def store_socket(run_dir):
    return f'{run_dir}/{STORE_SOCKET}'


def counters_path(run_dir, name):
    """Where node `name`'s process writes its counters (for `vpclab trace --wire` and `vpclab counters`
    from another terminal)."""
    return f'{run_dir}/{name}{COUNTERS_SUFFIX}'


def read_counters(run_dir):
    """node ('hp1', ...) -> the counters its process last wrote in the run directory."""
    return {f'hp{k}': v for k, v in run_dir_files.read_counters(run_dir, 'hp', COUNTERS_SUFFIX).items()}


def node_ip(k):
    return str(NODE_UNDERLAY + k)


def node_mac(k):
    return f'02:aa:fb:00:{k >> 8:02x}:{k & 0xff:02x}'


def interface_endpoints(vpc):
    return [e for e in vpc.endpoints.values() if e.type == 'interface']


def needed(topo):
    return any(v.nat_gateways or v.load_balancers or interface_endpoints(v) for v in topo.vpcs.values())


def nodes(topo):
    if not needed(topo):
        return []
    return [Node(f'hp{k}', k, node_ip(k), node_mac(k)) for k in range(1, topo.hyperplane.nodes + 1)]


def spine_of(node, spines):
    return (node.k - 1) % spines + 1


def _listeners(lb, vpc):
    """A listener's targets in the load balancer's AZs only: cross-zone load balancing is off (AWS's NLB
    default), so a target in another AZ is registered but gets no traffic and no health checks."""
    azs = {vpc.subnets[s].az for s in lb.subnets}
    return [(lst.protocol, lst.port, lst.target_port,
             [t for t in lst.targets if vpc.subnets[vpc.instances[t].subnet].az in azs]) for lst in lb.listeners]


def resources(topo, failed=()):
    """Every Hyperplane resource in file order (VPC by VPC: NAT gateways, NLBs, interface endpoints)."""
    names = [n.name for n in nodes(topo)]

    def shard(rid):
        return sharding.shard(rid, names, topo.hyperplane.shard_size, failed)
    out = []
    for vpc in topo.vpcs.values():
        for nat in vpc.nat_gateways.values():
            out.append(Resource('nat', nat.id, nat.name, vpc.name, vpc.vni, [nat.ip], [nat.subnet], shard=shard(nat.id),
                                public_ips=[vpc.elastic_ips[nat.elastic_ip].address]))
        for lb in vpc.load_balancers.values():
            out.append(Resource('nlb', lb.id, lb.name, vpc.name, vpc.vni, [a.ip for a in lb.addresses],
                                list(lb.subnets), _listeners(lb, vpc), shard(lb.id),
                                public_ips=[a.public_ip for a in lb.addresses if a.public_ip]))
        for ep in interface_endpoints(vpc):
            pvpc_name, service_name = ep.provider
            pvpc = topo.vpcs[pvpc_name]
            service = pvpc.endpoint_services[service_name]
            lb = pvpc.load_balancers[service.load_balancer]
            # the service's NLB's shard: the provider's replies come back to the NLB's nodes
            provider = dict(vpc=pvpc.name, vni=pvpc.vni, load_balancer=lb.name, load_balancer_id=lb.id,
                            nlb_ip=lb.addresses[0].ip, service=service.id, service_name=service.name,
                            owner=service.account, account=vpc.account,
                            allowed_accounts=list(service.allowed_accounts))
            out.append(Resource('endpoint', ep.id, ep.name, vpc.name, vpc.vni, [ep.ip], [ep.subnet],
                                _listeners(lb, pvpc), shard(lb.id), provider=provider))
    return out


def vpcs_served(topo):
    """The VPCs Hyperplane nodes send into (through Blackfoot): each resource's, and every provider's."""
    out = set()
    for r in resources(topo):
        out.add(r.vpc)
        if r.provider:
            out.add(r.provider['vpc'])
    return out


def shard_table(topo, failed=()):
    """[(kind, name, vpc, [serving nodes], [failed nodes of its shard])] for `vpclab hyperplane shards`."""
    whole = {r.id: r.shard for r in resources(topo)}
    return [(r.kind, r.name, r.vpc, r.shard, [n for n in whole[r.id] if n not in r.shard])
            for r in resources(topo, failed)]


def controller_section(topo, failed=()):
    """The controller configuration's "hyperplane" key (testbed/fabric/controller.py): every resource
    with its whole shard, and the failed nodes apart, so that the controller moves only the failed
    nodes' buckets and gives them back when those nodes are restored."""
    return dict(nodes={n.name: n.ip for n in nodes(topo)}, macs={n.name: n.mac for n in nodes(topo)},
                failed=sorted(failed), resources=[r.as_dict() for r in resources(topo)])


def _nat_sources(vpc, nat):
    """The CIDRs of the subnets whose route table sends something to the NAT gateway."""
    return [sub.cidr for sub in vpc.subnets.values()
            if any(r.target == f'nat:{nat}' for r in vpc.route_table_of(sub.name).routes)]


def _health(lb):
    hc = lb.health_check
    return dict(port=hc.port, interval_s=hc.interval_s, healthy=hc.healthy, unhealthy=hc.unhealthy)


def node_config(topo, node, run_dir, edge, encapsulation):
    """What node `node`'s process reads (appliances/hyperplane/node_process.py): the resources whose
    shard (before failures: a restored node serves its own again) holds it, with what it needs of
    the model.  `edge`: (underlay ip, mac) of the Blackfoot node it sends to."""
    everyone = nodes(topo)
    mine = []
    for r in resources(topo):
        if node.name not in r.shard:
            continue
        d = r.as_dict()
        vpc = topo.vpcs[r.vpc]
        if r.kind == 'nat':
            d['sources'] = _nat_sources(vpc, r.name)
        elif r.kind == 'nlb':
            lb = vpc.load_balancers[r.name]
            d.update(target_ips={i.name: i.ip for i in vpc.instances.values()}, health_check=_health(lb))
        else:
            pvpc = topo.vpcs[r.provider['vpc']]
            d['provider'] = dict(r.provider, target_ips={i.name: i.ip for i in pvpc.instances.values()})
        mine.append(d)
    return dict(name=node.name, store=store_socket(run_dir), edge=list(edge), resources=mine,
                counters_file=counters_path(run_dir, node.name),
                underlay=dict(ifname='ul', ip=node.ip, mac=node.mac, encapsulation=encapsulation),
                peers={n.name: [n.ip, n.mac] for n in everyone if n.name != node.name})
