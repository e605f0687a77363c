"""The edge's plan from a topology (testbed/fabric/edge_plan.py) and its flows in the router
(controllers/router/gateways.py): pure, no lab."""
import os

from controllers import pipeline as P
from controllers.router import route_table
from testbed.appliances import edge_process
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
    assert f'198.18.0.100={ep.id}' in s3
    assert all(len(lk.if2) <= 15 for lk in plan.links)


def test_the_edge_process_builds_from_the_plan():
    config = edge_plan.plan(GATEWAYS, Names(), '/run/x').edge_config
    handler, interfaces = edge_process.build(config, {})
    assert interfaces == ['ul', 'dx1', 'inet', 'svc', 'vpn1']
    assert handler.edge.routes.lookup(100, bytes([10, 0, 1, 10]), bytes([8, 8, 8, 8])) == 'igw'
    control = edge_process.Control(os.open(os.devnull, os.O_RDONLY), handler.edge.mapping, dict)
    control.handle({'mapping': [[100, '10.0.1.10', '100.127.0.2', '02:00:00:00:00:01']]})
    assert handler.edge.lookup((100, bytes([10, 0, 1, 10]))) == (bytes([100, 127, 0, 2]), bytes([2, 0, 0, 0, 0, 1]))


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
