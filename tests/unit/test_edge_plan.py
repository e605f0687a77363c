"""The edge's plan from a topology (testbed/fabric/edge_plan.py) and its flows in the router
(controllers/router/gateways.py): pure, no lab."""
import dataclasses
import os

from scapy.layers.inet import ICMP, IP

from controllers import pipeline as P
from controllers.router import gateways, route_table
from testbed.appliances import blackfoot as bf
from testbed.appliances import edge_process
from testbed.appliances.packets import ip4, mac
from testbed.fabric import edge_plan, firewall_config
from testbed.fabric.names import Names
from testbed.topology import load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GATEWAYS = load(os.path.join(ROOT, 'topologies', 'gateways.yaml'))


def test_only_topologies_with_a_way_out_get_an_edge():
    assert edge_plan.needed(GATEWAYS)
    assert not edge_plan.needed(load(os.path.join(ROOT, 'topologies', 'peering.yaml')))


def test_the_plan_names_every_outside_node_and_routes_replies_the_way_the_vpc_sends():
    plan = edge_plan.plan(GATEWAYS, Names(), '/run/x')
    assert {'example-web', 's3', 'corp-1', 'corp-2', 'corp-vpn', 'corp-dx', plan.edge} <= set(plan.nodes)
    site = plan.setup['vl_site1']
    # corp-2's prefix goes back by Direct Connect, the rest of the site by VPN (longer prefix first)
    assert site.index('ip rule add from 192.168.100.0/24 to 10.0.2.0/24 table 202 priority 976') < \
        site.index('ip rule add from 192.168.0.0/16 to 10.0.2.0/24 table 101 priority 984')
    assert plan.dx_bridges['vl_dxb1']['flows'][0] == 'priority=100,in_port=1,dl_vlan=101,actions=pop_vlan,output:2'
    ep = GATEWAYS.vpcs['blue'].endpoints['s3-ep']
    s3 = next(argv for node, argv, _, _ in plan.processes if node == 's3')
    assert f'198.18.0.11={ep.id}' in s3
    assert all(len(lk.if2) <= 15 for lk in plan.links)


def test_the_edge_process_builds_from_the_plan():
    config = edge_plan.plan(GATEWAYS, Names(), '/run/x').edge_config
    handler, interfaces = edge_process.build(config, {})
    assert interfaces == ['ul', 'dx1', 'inet', 'svc', 'vpn1']
    assert handler.edge.routes.lookup(100, bytes([10, 0, 1, 10]), bytes([8, 8, 8, 8])) == 'igw'
    control = edge_process.Control(os.open(os.devnull, os.O_RDONLY), handler.edge.mapping, dict)
    control.handle({'mapping': [[100, '10.0.1.10', '100.127.0.2', '02:00:00:00:00:01']]})
    assert handler.edge.lookup((100, bytes([10, 0, 1, 10]))) == (bytes([100, 127, 0, 2]), bytes([2, 0, 0, 0, 0, 1]))


def test_the_edge_lets_nothing_in_from_the_internet_with_a_source_the_vpc_routes_elsewhere():
    """The edge holds the whole route table: a packet to web-1's elastic IP forged from web-2's address
    (which web-1's security group trusts: from sg:default) would reach web-1, its reply going to web-2."""
    config = edge_plan.plan(GATEWAYS, Names(), '/run/x').edge_config
    web1, vni = GATEWAYS.instance('web-1'), GATEWAYS.vpcs['blue'].vni
    edge = edge_process.build(config, {(vni, ip4(web1.ip)): (ip4('100.127.0.1'), mac(web1.mac))})[0].edge
    eip = GATEWAYS.vpcs['blue'].elastic_ips['web-eip'].address
    ping = bytes(IP(src='198.51.100.10', dst=eip) / ICMP())
    assert [type(x) for x in edge.inbound('internet', ping)] == [bf.ToHost]
    for forged in (GATEWAYS.instance('web-2').ip, '10.0.255.1'):
        ping = bytes(IP(src=forged, dst=eip) / ICMP())
        assert edge.inbound('internet', ping) == [bf.Drop('no-route-to-igw')]


def test_gateway_routes_go_to_the_edge_and_the_check_lets_the_edge_in():
    subnets = firewall_config.subnets(GATEWAYS)
    private = next(s for s in subnets.values() if s['cidr'] == '10.0.2.0/24')
    flows = route_table.subnet(private)
    to_edge = [f for f in flows if f.table_id == P.ROUTE_TABLE and 'tun_ipv4_dst' in str(f.instructions)]
    assert len(to_edge) == 3           # vgw, dx:corp-dx, vpce:s3-ep
    check = [f for f in flows if f.table_id == P.CHECK]
    assert len(check) == 1 and check[0].match['tun_ipv4_src'] == edge_plan.edge_ip()
    # without an edge the same routes stay target-not-built
    private['edge_ip'] = None
    assert not [f for f in route_table.subnet(private) if f.table_id == P.CHECK]


def two_nodes():
    return dataclasses.replace(GATEWAYS, edge=dataclasses.replace(GATEWAYS.edge, nodes=2))


def test_two_edge_nodes_each_with_its_own_underlay_loop_and_outside_links():
    topo = two_nodes()
    plan = edge_plan.plan(topo, Names(), '/run/x')
    assert plan.edges == ['vl_edge1', 'vl_edge2'] and plan.edge == 'vl_edge1'
    loops = [argv[-1] for node, argv, _, what in plan.processes if what == 'testbed.appliances.edge_process']
    assert loops == ['/run/x/edge1.json', '/run/x/edge2.json']
    one, two = (plan.edge_configs[e] for e in plan.edges)
    assert (one['underlay']['ip'], two['underlay']['ip']) == (edge_plan.edge_ip(1), edge_plan.edge_ip(2))
    assert {lk['name'] for lk in two['links']} == {'internet', 'services'}       # VPN and DX stay on edge1
    assert two['vpn'] == [] and two['dx'] == [] and one['vpn'] and one['dx']
    assert two['elastic_ips'] == one['elastic_ips']
    inet = plan.setup['vl_inet']
    assert any('nexthop via 100.64.0.2 dev edge onlink nexthop via 100.64.0.2 dev edge2 onlink' in c for c in inet)
    assert {lk.if2 for lk in plan.links if lk.node2 == 's3'} == {'eth0', 'eth1'}


def test_two_edge_nodes_share_igw_and_endpoint_routes_by_source_and_keep_tunnels_on_the_first():
    subnets = firewall_config.subnets(two_nodes())
    public = next(s for s in subnets.values() if s['cidr'] == '10.0.1.0/24')
    assert public['edge_ips'] == [edge_plan.edge_ip(1), edge_plan.edge_ip(2)]
    flows = route_table.subnet(public)
    to_edge = [f for f in flows if f.table_id == P.ROUTE_TABLE and 'tun_ipv4_dst' in str(f.instructions)]
    by_source = {f.match.get('ipv4_src'): str(f.instructions) for f in to_edge}
    assert edge_plan.edge_ip(1) in by_source[('0.0.0.0', '0.0.0.1')]
    assert edge_plan.edge_ip(2) in by_source[('0.0.0.1', '0.0.0.1')]
    private = next(s for s in subnets.values() if s['cidr'] == '10.0.2.0/24')
    tunnels = [f for f in route_table.subnet(private) if f.table_id == P.ROUTE_TABLE and 'tun_ipv4_dst' in
               str(f.instructions) and 'ipv4_src' not in f.match]
    assert len(tunnels) == 2 and all(edge_plan.edge_ip(1) in str(f.instructions) for f in tunnels)  # vgw, dx:
    assert {f.match['tun_ipv4_src'] for f in flows if f.table_id == P.CHECK} == set(public['edge_ips'])
    assert gateways.buckets(3) == [(0, 3), (1, 3), (2, 3), (3, 3)] and gateways.buckets(1) == [(0, 0)]


def test_edge_counters_are_written_atomically_and_read_from_another_terminal(tmp_path):
    from testbed.commands.output import Report
    from testbed.commands.views import appliance_tables
    for k, sent in ((1, 5), (2, 7)):
        edge_process.write_counters(edge_plan.counters_path(str(tmp_path), k),
                                    {'sent': sent, 'handler': {'out:internet': sent, 'drop:no-elastic-ip': k}})
    assert oct(os.stat(edge_plan.counters_path(str(tmp_path), 1)).st_mode & 0o777) == '0o600'
    assert not [n for n in os.listdir(tmp_path) if n.endswith('.tmp')]
    nodes = edge_plan.read_counters(str(tmp_path))
    assert set(nodes) == {'edge1', 'edge2'}
    report = appliance_tables(Report([], {}), nodes, 'edge (Blackfoot)', 'Edge')
    assert report.document['Edge']['Total'] == {'sent': 12, 'handler': {'out:internet': 12, 'drop:no-elastic-ip': 3}}
    drops = report.tables[-1]
    assert list(drops.rows) == [('no-elastic-ip', 3, 1, 2)]
    nothing = edge_plan.read_counters(str(tmp_path / 'none'))
    assert appliance_tables(Report([], {}), nothing, 'edge', 'Edge').tables == []


def test_the_plan_tells_each_edge_process_where_to_write_its_counters():
    plan = edge_plan.plan(two_nodes(), Names(), '/run/x')
    assert [plan.edge_configs[e]['counters_file'] for e in plan.edges] == [
        '/run/x/edge1-counters.json', '/run/x/edge2-counters.json']


def test_a_gateway_endpoint_fits_in_the_smallest_s3_network():
    small = dataclasses.replace(GATEWAYS, services=dataclasses.replace(GATEWAYS.services, s3_cidr='198.18.0.0/28'))
    assert [alias for _, _, alias in edge_plan.gateway_endpoints(small)] == ['198.18.0.11']
