"""The edge and the world outside the VPCs, as a plan: pure data from the topology, built by edge.py.

    underlay ── spine ── edge (Blackfoot, packet loop) ── inet ── internet router ── internet hosts
                                  │  │  └── svc ── s3 (service address + one alias per gateway endpoint)
                                  │  └── vpn<i> ── <site>-vpn (ESP loop) ── site router ── site hosts
                                  └── dx<j> ── DX bridge (OVS: VLAN per connection) ── <site>-dx ── site router

The edge host is on the underlay like a physical host: underlay address 100.127.255.<k>, a cable to
a spine, static flows on the ToRs and spines.  With `edge: {nodes: N}` there are N edge hosts
(edge1..edgeN), each with its own underlay address, cable and packet loop, and each with its own
link to the internet router and to S3: elastic-IP NAT and gateway endpoints keep no per-flow state
on Blackfoot, so any node can take any packet of theirs, and the internet router and S3 spread
their replies over the nodes (ECMP, L4 hash).  VPN and Direct Connect stay on edge1: an ESP tunnel
has one sequence counter and replay window, a DX connection one trunk, so they need one node each
(the controller sends vgw and dx: routes to edge1 only; controllers/router/gateways.py).
Its outside interfaces have no address: the packet
loop answers ARP for everything there (proxy ARP).  The internet router and the site routers are
plain Linux routers; every host hangs off its router on a point-to-point link (a /32 each side),
so nobody on a link but the router answers ARP.  A site router sends replies to a VPC the way that
VPC's route tables send traffic to the site (policy rules by source and destination), so the edge's
reply-route admission holds for VPN and Direct Connect alike.
"""
import ipaddress
from dataclasses import dataclass, field

from testbed import run_dir as run_dir_files
from testbed.fabric import hyperplane_plan

EDGE_UNDERLAY = ipaddress.IPv4Address('100.127.255.0')   # + k: never a physical host's (at most 1000)
EDGE_SPINE_PORT = 2000                                   # + k: the edge's cable on its spine
ROUTER_IP = '100.64.0.1'          # the internet router's address on each of its links
EDGE_OUTSIDE_IP = '100.64.0.2'    # the edge's address on the internet link: source of the ICMP it sends
VPN_ENDPOINT_BASE = ipaddress.IPv4Address('100.64.1.0')  # + i: the edge's end of VPN connection i
OUTSIDE_MTU = 1500
EDGE_KINDS = ('igw', 'vgw', 'dx', 'vpce')    # route targets the edge builds (nat: waits for Hyperplane)
S3_PORT = 80


def edge_ip(k=1):
    return str(EDGE_UNDERLAY + k)


def edge_mac(k=1):
    return f'02:aa:ed:00:00:{k:02x}'


def target_kind(target):
    return target.partition(':')[0]


def uses_edge(vpc):
    """Does this VPC leave through the edge?  Hyperplane resources count: their nodes send
    everything into a VPC through the edge (hyperplane_plan.py), and a provider's NLB is one."""
    return bool(vpc.internet_gateway or vpc.vpn_connections or vpc.direct_connect or
                any(e.type == 'gateway' for e in vpc.endpoints.values()) or
                vpc.nat_gateways or vpc.load_balancers or hyperplane_plan.interface_endpoints(vpc))


def needed(topo):
    return any(uses_edge(v) for v in topo.vpcs.values())


def _elastic_ips(topo):
    """Elastic IPs of instances, NAT gateways (their private address) and internet-facing NLBs."""
    out = [dict(public=e.address, vni=v.vni, private=v.instances[e.instance].ip)
           for v in topo.vpcs.values() for e in v.elastic_ips.values() if e.instance]
    for r in hyperplane_plan.resources(topo):
        out += [dict(public=public, vni=r.vni, private=r.ips[i if r.kind == 'nlb' else 0])
                for i, public in enumerate(r.public_ips)]
    return out


def _hyperplane_config(topo, run_dir):
    """What Blackfoot needs of Hyperplane: the nodes, and the addresses it opens doors to."""
    if not hyperplane_plan.needed(topo):
        return None
    resources = hyperplane_plan.resources(topo)
    return dict(nodes={n.name: [n.ip, n.mac] for n in hyperplane_plan.nodes(topo)},
                nats=[[r.id, r.vni, r.ips[0]] for r in resources if r.kind == 'nat'],
                nlbs=[[r.id, r.vni, r.ips, r.shard] for r in resources if r.kind == 'nlb' and r.public_ips],
                store=hyperplane_plan.store_socket(run_dir))


def edge_routes(topo):
    """(vni, subnet CIDR, destination, target) of every route of the VPCs that use the edge, in file
    order: the local route and peerings too, so that a packet from outside whose source the VPC
    routes elsewhere (its own CIDR, a peer's) is not let in as if the reply went back the same way."""
    return [(vpc.vni, subnet.cidr, r.destination, r.target)
            for vpc in topo.vpcs.values() if uses_edge(vpc) for subnet in vpc.subnets.values()
            for r in vpc.route_table_of(subnet.name).routes]


def gateway_endpoints(topo):
    """[(vpc, endpoint, alias address)] of every gateway endpoint, in file order."""
    eps = [(v, e) for v in topo.vpcs.values() for e in v.endpoints.values() if e.type == 'gateway']
    return [(vpc, ep, topo.services.gateway_alias(i)) for i, (vpc, ep) in enumerate(eps)]


def vpn_connections(topo):
    """[(vpc, connection, the edge's tunnel address, number)] in file order, numbered from 1."""
    vpns = [(v, c) for v in topo.vpcs.values() for c in v.vpn_connections.values()]
    return [(v, c, str(VPN_ENDPOINT_BASE + i), i) for i, (v, c) in enumerate(vpns, start=1)]


def direct_connects(topo, site):
    return [(v, d) for v in topo.vpcs.values() for d in v.direct_connect.values() if d.site == site]


class Macs:
    """Locally administered MACs for the outside links, one per interface, in the order asked."""

    def __init__(self):
        self.n = 0

    def __call__(self):
        self.n += 1
        return f'02:ed:00:00:{self.n >> 8:02x}:{self.n & 0xff:02x}'


@dataclass
class Link:
    """A veth between interfaces of two nodes (node None: the root namespace, a bridge port)."""
    node1: object
    if1: str
    mac1: str
    node2: object
    if2: str
    mac2: str
    mtu: int = OUTSIDE_MTU


@dataclass
class Plan:
    edge: str                                  # the first edge host's Mininet node (VPN and DX end there)
    edges: list = field(default_factory=list)  # every edge host's node, edge1 first
    nodes: list = field(default_factory=list)  # every node to make, in order
    links: list = field(default_factory=list)
    setup: dict = field(default_factory=dict)  # node -> shell commands once its links exist
    dx_bridges: dict = field(default_factory=dict)   # bridge -> [flows]
    processes: list = field(default_factory=list)    # (node, argv, env or None, what)
    edge_config: dict = field(default_factory=dict)  # edge1's
    edge_configs: dict = field(default_factory=dict)  # edge node -> its configuration


def router_link(plan, macs, router, host, host_ip, router_if, router_ip):
    """A host hanging off `router` on a point-to-point link (a /32 each side)."""
    plan.links.append(Link(router, router_if, macs(), host, 'eth0', macs()))
    plan.setup.setdefault(host, []).extend([
        f'ip addr add {host_ip}/32 dev eth0', f'ip route add {router_ip} dev eth0 scope link',
        f'ip route add default via {router_ip} dev eth0'])
    plan.setup.setdefault(router, []).extend([
        f'ip addr add {router_ip}/32 dev {router_if}', f'ip route add {host_ip}/32 dev {router_if}'])


COUNTERS_SUFFIX = '-counters.json'


def counters_path(run_dir, k):
    """Where edge node k's process writes its counters (for `vpclab counters` in another terminal)."""
    return f'{run_dir}/edge{k}{COUNTERS_SUFFIX}'


def read_counters(run_dir):
    """edge node ('edge1', ...) -> the counters its process last wrote in the run directory."""
    return {f'edge{k}': v for k, v in run_dir_files.read_counters(run_dir, 'edge', COUNTERS_SUFFIX).items()}


def edge_count(topo):
    return max(1, getattr(getattr(topo, 'edge', None), 'nodes', 1) or 1)


def _ecmp(via, devs):
    """A default route over several links to the same next hop (one link: a plain route)."""
    if len(devs) == 1:
        return f'ip route add default via {via} dev {devs[0]}'
    return 'ip route add default ' + ' '.join(f'nexthop via {via} dev {d} onlink' for d in devs)


def plan(topo, names, run_dir):
    """The whole outside world and the edge, for a topology that needs them."""
    n = edge_count(topo)
    p, macs = Plan(edge=f'{names.prefix}edge1', edges=[f'{names.prefix}edge{k}' for k in range(1, n + 1)]), Macs()
    inet = f'{names.prefix}inet'
    p.nodes += [*p.edges, inet, *topo.outside.internet, topo.services.s3_host]
    per_node = {k: [] for k in range(1, n + 1)}     # each edge's outside links, for its config
    # the internet: the router (one link per edge node) and its hosts
    inet_ifs, s3_ifs = [], []
    for k, edge in enumerate(p.edges, start=1):
        link = Link(edge, 'inet', macs(), inet, 'edge' if k == 1 else f'edge{k}', macs())
        p.links.append(link)
        inet_ifs.append(link.if2)
        per_node[k].append(dict(name='internet', ifname='inet', mac=link.mac1, peer_mac=link.mac2))
    p.setup[inet] = ['sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1']
    p.setup[inet] += [f'ip addr add {ROUTER_IP}/30 dev {d}' for d in inet_ifs] + [_ecmp(EDGE_OUTSIDE_IP, inet_ifs)]
    for i, host in enumerate(topo.outside.internet.values(), start=1):
        router_link(p, macs, inet, host.name, host.ip, f'h{i}', ROUTER_IP)
    # S3 on the services network (one link per edge node)
    s3, s3_ip = topo.services.s3_host, topo.services.s3_ip
    gateway = str(ipaddress.IPv4Network(topo.services.s3_cidr).network_address + 1)
    for k, edge in enumerate(p.edges, start=1):
        link = Link(edge, 'svc', macs(), s3, f'eth{k - 1}', macs())
        p.links.append(link)
        s3_ifs.append(link.if2)
        per_node[k].append(dict(name='services', ifname='svc', mac=link.mac1, peer_mac=link.mac2))
    eps = gateway_endpoints(topo)
    p.setup[s3] = ['sysctl -qw net.ipv4.fib_multipath_hash_policy=1']
    p.setup[s3] += [f'ip addr add {a}/32 dev eth0' for a in [s3_ip] + [alias for _, _, alias in eps]]
    p.setup[s3] += [f'ip route add {gateway} dev {d} scope link' for d in s3_ifs[:1]] + [_ecmp(gateway, s3_ifs)]
    p.processes.append((s3, ['-m', 'testbed.appliances.s3', '--listen', f'0.0.0.0:{S3_PORT}',
                             '--store', f'{run_dir}/s3'] +
                        [a for _, ep, alias in eps for a in ('--endpoint', f'{alias}={ep.id}')], None,
                        'testbed.appliances.s3'))
    vpns = vpn_connections(topo)
    for j, site in enumerate(topo.outside.sites.values(), start=1):
        per_node[1] += _site(p, macs, topo, names, j, site, [x for x in vpns if x[1].site == site.name])
    hyperplane = _hyperplane_config(topo, run_dir)
    p.edge_configs = {edge: dict(_edge_config(topo, k, per_node[k], eps, vpns if k == 1 else [], k == 1),
                                 counters_file=counters_path(run_dir, k))
                      for k, edge in enumerate(p.edges, start=1)}
    if hyperplane:
        for config in p.edge_configs.values():
            config['hyperplane'] = hyperplane
    p.edge_config = p.edge_configs[p.edge]
    p.processes[:0] = [(edge, ['-m', 'testbed.appliances.edge_process', f'{run_dir}/edge{k}.json'], None,
                        'testbed.appliances.edge_process') for k, edge in enumerate(p.edges, start=1)]
    return p


def _site(p, macs, topo, names, j, site, vpns):
    """A site's router and hosts, its VPN router (one loop per connection) and DX router."""
    router, links = f'{names.prefix}site{j}', []
    p.nodes += [router, *site.hosts]
    p.setup[router] = ['sysctl -qw net.ipv4.ip_forward=1']
    for n, host in enumerate(site.hosts.values(), start=1):
        router_link(p, macs, router, host.name, host.ip, f'h{n}', site.gateway_ip)
    tables = {}       # route target -> routing table number on the site router
    if vpns:
        p.nodes.append(site.vpn_router)
    for i, (vpc, conn, edge_end, number) in enumerate(vpns, start=1):
        wan = Link(p.edge, f'vpn{number}', macs(), site.vpn_router, f'wan{i}', macs())
        lan = Link(site.vpn_router, f'lan{i}', macs(), router, f'vpn{i}', macs())
        p.links += [wan, lan]
        links.append(dict(name=f'vpn:{conn.id}', ifname=wan.if1, mac=wan.mac1, peer_mac=wan.mac2))
        tables[(vpc.name, 'vgw')] = (100 + i, f'vpn{i}', site.vpn_router_ip)
        p.setup[router].append(f'ip addr add {site.gateway_ip}/32 dev vpn{i}')
        cfg = dict(topology=topo.name, connection=conn.id, edge_ip=edge_end, site_ip=site.vpn_router_ip,
                   vpc_cidrs=[vpc.cidr], wan_mac=wan.mac2, wan_peer_mac=wan.mac1, lan_mac=lan.mac1,
                   lan_peer_mac=lan.mac2)
        p.processes.append((site.vpn_router, ['-m', 'testbed.appliances.packet_loop', f'wan{i}', f'lan{i}',
                                              '--handler', 'testbed.appliances.site_vpn:from_env'],
                            dict(VPCLAB_SITE_VPN=cfg), 'testbed.appliances.site_vpn'))
    dxs = direct_connects(topo, site.name)
    if dxs:
        links += _direct_connect(p, macs, names, j, site, router, dxs, tables)
    p.setup[router] += _policy(topo, site, tables)
    return links


def _direct_connect(p, macs, names, j, site, router, dxs, tables):
    """The edge's trunk to an OVS bridge that pops and pushes each connection's VLAN toward the
    site's DX router, which the kernel of neither namespace could do (no 8021q module)."""
    dx, bridge = site.dx_router, f'{names.prefix}dxb{j}'
    p.nodes.append(dx)
    trunk = Link(p.edge, f'dx{j}', macs(), None, f'{names.prefix}dxt{j}', None)
    lan = Link(dx, 'lan', macs(), router, 'dx', macs())
    p.links += [trunk, lan]
    p.setup[router] += [f'ip addr add {site.gateway_ip}/32 dev dx']
    p.setup[dx] = ['sysctl -qw net.ipv4.ip_forward=1', f'ip addr add {site.dx_router_ip}/32 dev lan',
                   f'ip route add {site.gateway_ip} dev lan scope link',
                   f'ip route add {site.cidr} via {site.gateway_ip} dev lan']
    flows, links = [], []
    for n, (vpc, conn) in enumerate(dxs, start=2):
        port = Link(dx, f'v{conn.vlan}', macs(), None, f'{names.prefix}dx{j}v{conn.vlan}', None)
        p.links.append(port)
        p.setup[dx].append(f'ip route add {vpc.cidr} dev v{conn.vlan}')
        flows += [f'priority=100,in_port=1,dl_vlan={conn.vlan},actions=pop_vlan,output:{n}',
                  f'priority=100,in_port={n},actions=push_vlan:0x8100,mod_vlan_vid:{conn.vlan},output:1']
        links.append(dict(name=f'dx:{conn.name}', ifname=trunk.if1, mac=trunk.mac1, peer_mac=port.mac1,
                          vlan=conn.vlan))
        tables[(vpc.name, f'dx:{conn.name}')] = (200 + n, 'dx', site.dx_router_ip)
    p.dx_bridges[bridge] = dict(ports=[trunk.if2] + [lk.if2 for lk in p.links if lk.node1 == dx and lk.node2 is None],
                                flows=flows)
    return links


def _overlap(a, b):
    a, b = ipaddress.IPv4Network(a), ipaddress.IPv4Network(b)
    return None if not a.overlaps(b) else a if a.prefixlen >= b.prefixlen else b


def _policy(topo, site, tables):
    """Routing rules on the site router: traffic from a site prefix to a subnet goes back the way
    that subnet's route table sends traffic to the prefix (longer prefixes first)."""
    rules, out = set(), []
    for table, dev, via in tables.values():
        out.append(f'ip route add default via {via} dev {dev} onlink table {table}')
    for vpc in topo.vpcs.values():
        for subnet in vpc.subnets.values():
            for r in vpc.route_table_of(subnet.name).routes:
                where = tables.get((vpc.name, r.target))
                mine = _overlap(r.destination, site.cidr)
                if where is None or mine is None:
                    continue
                rules.add((1000 - mine.prefixlen, str(mine), subnet.cidr, where[0]))
    out += [f'ip rule add from {src} to {dst} table {table} priority {prio}'
            for prio, src, dst, table in sorted(rules)]
    return out


def _edge_config(topo, k, links, eps, vpns, sites=True):
    return dict(
        underlay=dict(ifname='ul', ip=edge_ip(k), mac=edge_mac(k), encapsulation=topo.encapsulation,
                      next_hops={**{h.underlay_ip: _nic_mac(h) for h in topo.hosts.values()},
                                 **{n.ip: n.mac for n in hyperplane_plan.nodes(topo)}}),
        links=links, routes=edge_routes(topo), icmp_source=EDGE_OUTSIDE_IP,
        services_cidr=topo.services.s3_cidr,
        elastic_ips=_elastic_ips(topo),
        vpn=[dict(name=c.id, vni=v.vni, site_cidr=topo.outside.sites[c.site].cidr, topology=topo.name,
                  edge_ip=edge_end, site_ip=topo.outside.sites[c.site].vpn_router_ip) for v, c, edge_end, _ in vpns],
        dx=[dict(name=d.name, vni=v.vni, site_cidr=topo.outside.sites[d.site].cidr, vlan=d.vlan)
            for v in topo.vpcs.values() for d in v.direct_connect.values() if sites],
        endpoints=[dict(name=ep.name, vni=v.vni, service_address=topo.services.s3_ip, alias=alias)
                   for v, ep, alias in eps],
        vnis=sorted(v.vni for v in topo.vpcs.values() if uses_edge(v)))


def _nic_mac(host):
    from testbed.fabric.names import nic_mac
    return nic_mac(host)
