"""`vpclab trace` in model mode beyond the hosts' pipeline (no lab, no root): from outside hosts and elastic
IPs in, out to the internet, a site and S3, and through Hyperplane nodes; Blackfoot's and the nodes'
decisions are their own code's (testbed/observe/trace_outside.py)."""
import os

import pytest

from testbed.commands.trace import probe
from testbed.errors import UsageError
from testbed.observe.trace_model import TraceState, trace
from testbed.observe.trace_outside import World, packet, reply
from testbed.topology import load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GATEWAYS = load(os.path.join(ROOT, 'topologies', 'gateways.yaml'))
HYPERPLANE = load(os.path.join(ROOT, 'topologies', 'hyperplane.yaml'))


def model(topo, src, dst, proto='icmp'):
    return trace(topo, TraceState.of_topology(topo), src, dst, probe(proto))


def stages(t):
    return [(s.stage, s.host) for s in t.steps]


def detail(t, stage, n=0):
    return [s.detail for s in t.steps if s.stage == stage][n]


@pytest.mark.parametrize('src, dst, proto, minimal', [
    ('example-web', 'web-eip', 'tcp/80', 'example-web -> web-eip tcp/80: allowed'),
    ('example-web', '203.0.113.1', 'icmp', 'example-web -> 203.0.113.1 icmp: allowed'),
    ('example-web', 'web-eip', 'tcp/22', 'example-web -> web-eip tcp/22: dropped at INGRESS_SG_RULES on r1-h1: '
                                         'security-group'),
    ('example-web', 'web-2', 'tcp/80', 'example-web -> web-2 tcp/80: dropped at EDGE on edge1: no-elastic-ip'),
    ('example-web', '203.0.113.99', 'tcp/80', 'example-web -> 203.0.113.99 tcp/80: dropped at EDGE on edge1: '
                                              'no-elastic-ip'),
    ('example-web', 'app-eip', 'tcp/80', 'example-web -> app-eip tcp/80: dropped at EDGE on edge1: no-route-to-igw'),
    ('corp-1', 'app-1', 'tcp/22', 'corp-1 -> app-1 tcp/22: allowed'),
    ('corp-2', 'app-1', 'icmp', 'corp-2 -> app-1 icmp: allowed'),
    ('corp-1', 'web-1', 'icmp', 'corp-1 -> web-1 icmp: dropped at OUTSIDE on corp: no-route'),
    ('s3', 'web-eip', 'tcp/80', 's3 -> web-eip tcp/80: allowed'),
])
def test_from_outside_in(src, dst, proto, minimal):
    assert model(GATEWAYS, src, dst, proto).minimal() == minimal


def test_inbound_by_an_elastic_ip_names_the_mapping_and_the_instances_rules():
    t = model(GATEWAYS, 'example-web', 'web-eip', 'tcp/80')
    assert stages(t) == [('OUTSIDE', 'example-web'), ('EDGE', 'edge1'), ('CHECK', 'r1-h1'), ('DESTINATION', 'r1-h1'),
                         ('INGRESS_NACL', 'r1-h1'), ('INGRESS_SG_RULES', 'r1-h1'), ('DELIVER', 'r1-h1')]
    assert detail(t, 'EDGE').startswith('destination 203.0.113.1 -> 10.0.1.10 (elastic IP web-eip)')
    assert 'to r1-h1 (100.127.0.1), web-1\'s host' in detail(t, 'EDGE')
    assert detail(t, 'INGRESS_SG_RULES') == 'allow: default, inbound tcp 80 from 0.0.0.0/0'
    assert 'no elastic IP' in model(GATEWAYS, 'example-web', 'web-2', 'tcp/80').explanation()


def test_on_premises_in_by_vpn_and_by_direct_connect():
    vpn = model(GATEWAYS, 'corp-1', 'app-1', 'tcp/22')
    assert 'vpn:' in detail(vpn, 'OUTSIDE') and 'corp-vpn (ESP)' in detail(vpn, 'OUTSIDE')
    assert detail(vpn, 'INGRESS_SG_RULES') == 'allow: default, inbound all from 192.168.0.0/16'
    assert 'dx:corp-dx link' in detail(model(GATEWAYS, 'corp-2', 'app-1'), 'OUTSIDE')
    # web-1's subnet sends the site nowhere: the site's router has no way to it
    assert 'not by vgw or dx:' in model(GATEWAYS, 'corp-1', 'web-1').explanation()


@pytest.mark.parametrize('src, dst, proto, link, host', [
    ('web-1', 'example-web', 'tcp/80', 'internet', 'example-web'),
    ('web-eip', 'example-web', 'icmp', 'internet', 'example-web'),      # an elastic IP sends as its instance
    ('app-1', 'corp-1', 'tcp/22', 'vpn:', 'corp-1'),
    ('app-1', 'corp-2', 'icmp', 'dx:corp-dx', 'corp-2'),
    ('app-1', 's3', 'tcp/80', 'services', 's3'),
])
def test_out_of_the_vpc_to_each_outside_network(src, dst, proto, link, host):
    t = model(GATEWAYS, src, dst, proto)
    assert t.verdict == 'reachable' and t.steps[-1].stage == 'OUTSIDE' and t.steps[-1].host == host
    assert f'out of the {link}' in detail(t, 'EDGE')
    assert t.reply.startswith('the reply comes back through Blackfoot')


def test_to_the_internet_the_edge_translates_to_the_elastic_ip_or_drops():
    t = model(GATEWAYS, 'web-1', 'example-web', 'tcp/80')
    assert detail(t, 'EDGE').startswith('source 10.0.1.10 -> 203.0.113.1 (elastic IP web-eip)')
    assert model(GATEWAYS, 'web-2', 'example-web').minimal() == \
        'web-2 -> example-web icmp: dropped at EDGE on edge1: no-elastic-ip'
    s3 = model(GATEWAYS, 'app-1', '198.18.0.10', 'tcp/80')       # the gateway endpoint: S3's alias for it
    assert 'S3\'s alias for gateway endpoint s3-ep' in detail(s3, 'EDGE')


def test_an_elastic_ip_reached_from_the_vpc_goes_out_and_back_in_through_the_internet_gateway():
    """As in AWS (and on the lab's wire): the internet router sends the pool's addresses back to the edge."""
    t = model(GATEWAYS, 'web-1', 'web-eip', 'tcp/80')
    assert t.verdict == 'reachable', t.minimal()
    assert [s.stage for s in t.steps if s.stage in ('EDGE', 'OUTSIDE')] == ['EDGE', 'OUTSIDE', 'EDGE']
    assert 'from 203.0.113.1' in detail(t, 'INGRESS_SG_RULES') or detail(t, 'INGRESS_SG_RULES').endswith('0.0.0.0/0')
    assert model(GATEWAYS, 'web-1', 'app-eip', 'tcp/80').key[1::2] == ('EDGE', 'no-route-to-igw')
    assert model(GATEWAYS, 'web-1', '203.0.113.99', 'icmp').key[1::2] == ('EDGE', 'no-elastic-ip')


def test_a_site_reaches_an_internal_load_balancer_s_address_as_the_wire_does_as_far_as_the_edge(tmp_path):
    """The site's router routes the subnet (its table sends the site by vgw), and Blackfoot, which maps only
    instances, drops it: the lab does not carry a site's traffic to an NLB (docs/topology-format.md)."""
    text = open(os.path.join(ROOT, 'topologies', 'gateways.yaml')).read()
    nlb = '    load_balancers:\n      priv-nlb:\n        subnets: [blue-priv]\n        scheme: internal\n' \
          '        listeners:\n          - {port: 22, targets: [app-1]}\n'
    (tmp_path / 'nlb.yaml').write_text(text.replace('    route_tables:\n', nlb + '    route_tables:\n', 1))
    t = model(load(str(tmp_path / 'nlb.yaml')), 'corp-1', 'priv-nlb', 'tcp/22')
    assert t.key[1::2] == ('EDGE', 'no-mapping'), t.minimal()


def test_an_endpoint_is_a_destination_by_name_as_in_a_check():
    """A gateway endpoint leads to S3, an interface endpoint to its address (testbed/labs/runner.py too)."""
    assert model(GATEWAYS, 'app-1', 's3-ep', 'tcp/80').minimal() == 'app-1 -> s3-ep tcp/80: allowed'
    ep = HYPERPLANE.vpcs['blue'].endpoints['api-ep']
    assert model(HYPERPLANE, 'app-1', 'api-ep', 'tcp/443').steps == model(HYPERPLANE, 'app-1', ep.ip, 'tcp/443').steps
    with pytest.raises(UsageError, match='an endpoint is no source'):
        model(GATEWAYS, 's3-ep', 'app-1')


def test_nat_gateway_to_the_internet_names_the_node_its_translation_and_the_edge():
    t = model(HYPERPLANE, 'app-1', 'example-web', 'tcp/80')
    assert t.verdict == 'reachable'
    node = t.steps[[s.stage for s in t.steps].index('HYPERPLANE_NODE')]
    assert f'-> {node.host} (' in detail(t, 'HYPERPLANE')
    assert node.detail.startswith('source 10.0.1.10 -> 10.0.0.4 (NAT gateway nat-a)') and '(new flow)' in node.detail
    assert 'source 10.0.0.4 -> 203.0.113.1 (elastic IP nat-eip)' in detail(t, 'EDGE')
    assert t.steps[-1].host == 'example-web'
    # the reply finds the node through the port's block, and back to app-1
    assert t.reply == 'the reply comes back through Blackfoot (198.51.100.10:80 -> 10.0.1.10:40000) and passes ' \
                      'blue-priv\'s ACL'


def test_load_balancer_and_interface_endpoint_from_the_consumer_side():
    t = model(HYPERPLANE, 'app-1', 'web-nlb', 'tcp/80')
    assert t.verdict == 'reachable' and t.steps[-1].stage == 'DELIVER'
    target = t.steps[-1].detail.removeprefix('to ').removesuffix('\'s port')
    assert target in ('web-1', 'web-2') and f'-> {HYPERPLANE.instance(target).ip} ' in detail(t, 'HYPERPLANE_NODE')
    ep = HYPERPLANE.vpcs['blue'].endpoints['api-ep']
    t = model(HYPERPLANE, 'app-1', ep.ip, 'tcp/443')
    assert t.verdict == 'reachable' and 'in VNI 101' in detail(t, 'HYPERPLANE_NODE')      # into shop
    assert detail(t, 'INGRESS_SG_RULES') == 'allow: default, inbound tcp 8443 from 10.0.0.0/16'
    assert model(HYPERPLANE, 'app-1', 'web-nlb', 'tcp/81').reason == 'no-mapping'      # no listener: nobody's


def test_internet_to_an_internet_facing_load_balancer(tmp_path):
    t = model(HYPERPLANE, 'example-web', 'pub-nlb', 'tcp/80')
    assert [s.stage for s in t.steps][:4] == ['OUTSIDE', 'EDGE', 'HYPERPLANE_NODE', 'EDGE']
    assert '(load balancer pub-nlb)' in detail(t, 'EDGE') and 'to Hyperplane node' in detail(t, 'EDGE')
    assert t.verdict == 'reachable' and t.steps[-1].stage == 'DELIVER'
    # the target sees the internet client: without blue's rule for it, its group keeps it out
    text = open(os.path.join(ROOT, 'topologies', 'hyperplane.yaml')).read()
    rule = '          - {protocol: tcp, ports: 8081, from: 0.0.0.0/0}'
    assert rule in text
    (tmp_path / 'closed.yaml').write_text(text.replace(rule, '', 1))
    t = model(load(str(tmp_path / 'closed.yaml')), 'example-web', 'pub-nlb', 'tcp/80')
    assert t.key[1:] == ('INGRESS_SG_RULES', t.steps[-1].host, 'security-group')
    assert 'from 198.51.100.10' in t.steps[-1].detail
    topo = HYPERPLANE
    assert model(topo, 'example-web', 'pub-nlb', 'tcp/81').key[1::2] == ('HYPERPLANE_NODE', 'no-listener')
    assert model(topo, 'example-web', 'web-nlb', 'tcp/80').reason == 'no-elastic-ip'     # internal


def test_the_world_is_the_appliances_own_code():
    w = World(GATEWAYS, TraceState.of_topology(GATEWAYS).entries)
    assert list(w.edges) == ['edge1']
    syn = packet('198.51.100.10', '203.0.113.1', probe('tcp/80'))
    h = w.inbound('edge1', 'internet', syn)
    assert (h.kind, h.host_ip, h.packet[16:20]) == ('host', '100.127.0.1', bytes([10, 0, 1, 10]))
    answer = reply(h.packet)                 # web-1's SYN-ACK, out by igw
    out = w.outbound('edge1', 100, answer)
    assert (out.kind, out.link, out.packet[12:16]) == ('link', 'internet', bytes([203, 0, 113, 1]))
    assert w.inbound('edge1', 'vpn:' + GATEWAYS.vpcs['blue'].vpn_connections['corp-vpn'].id,
                     packet('192.168.1.10', '10.0.2.10', probe('icmp'))).kind == 'host'


def test_what_the_wire_reads_of_the_appliances_counters():
    from testbed.observe.trace_beyond import delta, edge_decision, node_decision
    moved = delta({'edge1': {'in:igw': 3, 'out:internet': 5}, 'hp1': {'out': 1}},
                  {'edge1': {'in:igw': 4, 'out:internet': 6, 'drop:x': 0}, 'hp1': {'out': 1}})
    assert moved == {'edge1': {'in:igw': 1, 'out:internet': 1}}
    # from outside it came in (its reply went out); from a VPC it went out (its reply came in)
    assert edge_decision(moved['edge1'], ('drop', 'in')) == ('in', 'in:igw')
    assert edge_decision(moved['edge1'], ('drop', 'link')) == ('link', 'internet')
    assert edge_decision({'drop:no-elastic-ip': 1, 'out:internet': 1}, ('drop', 'link')) == ('drop', 'no-elastic-ip')
    # a node's packet into the VPC is relayed; health checks move `relayed` too, never `in:`
    assert edge_decision({'in:igw': 1, 'relayed': 9}, ('drop', 'in')) == ('in', 'in:igw')
    assert edge_decision({'in:igw': 1, 'relayed': 9}, ('drop', 'relayed', 'link')) == ('relayed', 'relayed')
    # a node: only what it counted of the traced packet, not its health checks' drops and forwards
    assert node_decision({'drop:no-flow': 1, 'out': 1, 'traced:forward': 1}) == ('forward', 'out +1')
    assert node_decision({'drop:no-listener': 1, 'to-edge': 3, 'health-probes': 2, 'traced:drop:no-listener': 1}) \
        == ('drop', 'no-listener')
    assert node_decision({'drop:no-listener': 1, 'to-edge': 3, 'traced:forward': 1})[0] == 'forward'
    assert node_decision({'drop:no-listener': 1, 'to-edge': 1, 'health-probes': 3}) is None
    assert node_decision({'traced:reply': 1, 'replies': 1}) == ('drop', 'reset')


def test_several_edge_nodes_and_the_agreement_check(tmp_path):
    from testbed.errors import UsageError
    text = open(os.path.join(ROOT, 'topologies', 'gateways.yaml')).read()
    text = text.replace('\nvpcs:', '\nedge: {nodes: 2}\n\nvpcs:', 1)
    (tmp_path / 'two.yaml').write_text(text)
    topo = load(str(tmp_path / 'two.yaml'))
    # out by igw: the source's low bits pick the node (10.0.1.11 -> edge2); in: either node (ECMP)
    assert model(topo, 'web-2', 'example-web').key == ('dropped', 'EDGE', 'edge2', 'no-elastic-ip')
    t = model(topo, 'example-web', 'web-2', 'tcp/80')
    assert t.key == ('dropped', 'EDGE', 'edge*', 'no-elastic-ip')
    wire = trace(topo, TraceState.of_topology(topo), 'example-web', 'web-2', probe('tcp/80'))
    wire.host = 'edge2'                        # what a wire trace names: the node that counted it
    assert wire.agrees(t) and t.agrees(wire) and not wire.agrees(model(topo, 'example-web', 'web-eip', 'tcp/80'))
    with pytest.raises(UsageError):
        trace(topo, TraceState.of_topology(topo), 'example-web', 'web-eip', probe('tcp/80'), 'r1-h1')


def test_a_node_that_drops_says_what_it_dropped_and_why():
    t = model(HYPERPLANE, 'example-web', 'pub-nlb', 'tcp/81')
    assert (t.verdict, t.stage, t.reason) == ('dropped', 'HYPERPLANE_NODE', 'no-listener')
    lb = HYPERPLANE.vpcs['blue'].load_balancers['pub-nlb']
    assert t.steps[-1].detail == f'{t.host} drops 198.51.100.10:40000 -> {lb.addresses[0].ip}:81: the load balancer ' \
                                 'has no listener on that protocol and port'


def test_the_internet_to_a_nat_gateways_elastic_ip_without_a_connection_is_no_flow():
    t = model(HYPERPLANE, 'example-web', 'nat-eip', 'tcp/80')
    assert t.minimal() == 'example-web -> nat-eip tcp/80: dropped at EDGE on edge1: no-flow'
    assert 'no node of the NAT gateway holds a connection on that port' in t.explanation()
