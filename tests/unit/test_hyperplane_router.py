"""The virtual router's ways into Hyperplane (controllers/router/hyperplane.py), as journeys through the
fake switch: a nat: route to one live node of the NAT gateway's shard per flow, an NLB's two directions
meeting on one node, an interface endpoint, failed nodes, and the management API's endpoint."""
import ipaddress
import json

import pytest
from test_journeys import BLUE, RED, SUBNETS, World, tcp

from controllers import management_api as M
from controllers import pipeline as P
from controllers.router.hyperplane import Hyperplane
from testbed.appliances.hyperplane.sharding import BUCKETS, bucket_of, bucket_owner

NODES = {'hp1': '100.127.254.1', 'hp2': '100.127.254.2', 'hp3': '100.127.254.3'}
NAT = dict(kind='nat', id='nat-0a1b2c', name='nat-a', vpc='blue', vni=BLUE, ips=['10.0.1.5'], subnets=['subnet-a'],
           listeners=[], shard=['hp1', 'hp2'])
NLB = dict(kind='nlb', id='net/web-nlb/0123456789abcdef', name='web-nlb', vpc='blue', vni=BLUE, ips=['10.0.2.50'],
           subnets=['subnet-b'], listeners=[['tcp', 80, 8080, ['web-2']]], shard=['hp1', 'hp3'])
ENDPOINT = dict(kind='endpoint', id='vpce-0fe', name='api-ep', vpc='red', vni=RED, ips=['10.0.1.60'],
                subnets=['subnet-r'], listeners=[['tcp', 443, 8443, ['api-1']]], shard=['hp2', 'hp3'])
CONFIG = dict(nodes=NODES, failed=[], resources=[NAT, NLB, ENDPOINT])
IPS = {'web-2': '10.0.1.11'}
NAT_SUBNETS = dict(SUBNETS, **{'subnet-a': dict(SUBNETS['subnet-a'], routes=[
    dict(destination='10.0.0.0/16', target='local'), dict(destination='0.0.0.0/0', target='nat:nat-a')])})


def bucket(ip, port=None):
    return bucket_of(ipaddress.IPv4Address(ip).packed, port)


def node_of(journey):
    """The node a journey's packet was sent to (by its underlay address)."""
    ip = journey.field('tun_ipv4_dst')
    return next(n for n, a in NODES.items() if a == ip)


@pytest.fixture
def world():
    return World(subnets=NAT_SUBNETS, hyperplane=Hyperplane(CONFIG, IPS))


def fail(world, names):
    for h, r in world.routers.items():
        world.switches[h].apply(r.set_failed_hyperplane(names))


def test_a_nat_route_sends_each_flow_to_one_node_of_the_shard_in_the_vpcs_vni(world):
    j = world.send('web-1', ipv4_dst='8.8.8.8', **tcp(443))
    assert j.stages[j.stages.index('ROUTE_TABLE') + 1] == 'HYPERPLANE'
    want = bucket_owner(NAT['id'], bucket('10.0.1.10', 40000), NAT['shard'])
    assert j.verdict == f'tunnel to {NODES[want]}, VNI {BLUE}'
    assert j.commits                        # the reply finds the connection in web-1's zone
    # the instance's own packet: addresses unchanged
    assert (j.field('ipv4_src'), j.field('ipv4_dst')) == ('10.0.1.10', '8.8.8.8')
    # flows spread over both nodes of the shard, never the third; ping (no ports) too
    nodes = {node_of(world.send('web-1', ipv4_dst='8.8.8.8', ip_proto=6, tcp_src=p, tcp_dst=443))
             for p in range(40000, 40000 + BUCKETS)}
    assert nodes == {'hp1', 'hp2'}
    udp = world.send('web-1', ipv4_dst='8.8.8.8', ip_proto=17, udp_src=5000, udp_dst=53)
    assert node_of(udp) == bucket_owner(NAT['id'], bucket('10.0.1.10', 5000), NAT['shard'])
    ping = world.send('web-1', ipv4_dst='8.8.8.8', ip_proto=1)
    assert node_of(ping) == bucket_owner(NAT['id'], bucket('10.0.1.10'), NAT['shard'])
    # the local route still wins inside the VPC
    assert world.send('web-1', ipv4_dst='10.0.1.11', **tcp(80)).verdict.startswith('tunnel to 100.127.0.3')


def test_a_failed_node_moves_only_its_own_buckets_and_a_restored_one_takes_them_back(world):
    ports = range(40000, 40064)
    before = {p: node_of(world.send('web-1', ipv4_dst='8.8.8.8', ip_proto=6, tcp_src=p, tcp_dst=443)) for p in ports}
    fail(world, ['hp1'])
    after = {p: node_of(world.send('web-1', ipv4_dst='8.8.8.8', ip_proto=6, tcp_src=p, tcp_dst=443)) for p in ports}
    assert set(after.values()) == {'hp2'}                       # never refilled from hp3
    assert {p for p in ports if before[p] == 'hp2'} <= {p for p in ports if after[p] == 'hp2'}
    fail(world, [])
    assert before == {p: node_of(world.send('web-1', ipv4_dst='8.8.8.8', ip_proto=6, tcp_src=p, tcp_dst=443))
                      for p in ports}


def test_with_no_live_node_of_the_shard_the_packet_is_dropped_as_no_live_node(world):
    fail(world, ['hp1', 'hp2'])
    assert world.send('web-1', ipv4_dst='8.8.8.8', **tcp(443)).verdict == 'dropped: no-live-node at HYPERPLANE'
    assert world.send('web-1', ipv4_dst='8.8.8.8', ip_proto=1).verdict == 'dropped: no-live-node at HYPERPLANE'
    # the NLB's shard still has hp3
    assert node_of(world.send('db-1', ipv4_dst='10.0.2.50', **tcp(80))) == 'hp3'


def test_an_unknown_node_is_refused():
    with pytest.raises(LookupError, match='hp9'):
        Hyperplane(CONFIG, IPS).with_failed(['hp9'])


def test_without_hyperplane_a_nat_route_stays_target_not_built():
    w = World(subnets=NAT_SUBNETS)
    assert w.send('web-1', ipv4_dst='8.8.8.8', **tcp(443)).verdict == 'dropped: target-not-built at ROUTE_TABLE'


def test_the_nlb_forward_and_its_targets_reply_meet_on_one_node_per_connection(world):
    arp = world.send('db-1', arp_op=1, arp_tpa='10.0.2.50')
    assert (arp.field('arp_op'), arp.field('arp_sha')) == (2, P.ROUTER_MAC)
    nodes = set()
    for port in range(40000, 40000 + 2 * BUCKETS):
        forward = world.send('db-1', ipv4_dst='10.0.2.50', ip_proto=6, tcp_src=port, tcp_dst=80)
        assert 'HYPERPLANE' in forward.stages and forward.field('tunnel_id') == BLUE
        # the node sends the target the client's packet (source preserved); the target answers the client
        reply = world.send('web-2', ct='est', ipv4_dst='10.0.2.20', ip_proto=6, tcp_src=8080, tcp_dst=port)
        assert node_of(reply) == node_of(forward), port
        nodes.add(node_of(forward))
    assert nodes == {'hp1', 'hp3'}
    # another port of the NLB's address is nobody's; the target's other ports are not replies
    assert world.send('db-1', ipv4_dst='10.0.2.50', **tcp(22)).verdict == 'dropped: no-mapping at MAPPING'
    direct = world.send('web-2', ct='est', ipv4_dst='10.0.2.20', ip_proto=6, tcp_src=22, tcp_dst=40000)
    assert 'HYPERPLANE' not in direct.stages


def test_a_failed_nlb_node_moves_both_directions_together(world):
    fail(world, ['hp1'])
    for port in range(40000, 40000 + BUCKETS):
        forward = world.send('db-1', ipv4_dst='10.0.2.50', ip_proto=6, tcp_src=port, tcp_dst=80)
        reply = world.send('web-2', ct='est', ipv4_dst='10.0.2.20', ip_proto=6, tcp_src=8080, tcp_dst=port)
        assert node_of(forward) == node_of(reply) == 'hp3'


def test_an_interface_endpoint_address_goes_to_the_endpoints_shard_in_the_consumers_vni(world):
    arp = world.send('red-1', arp_op=1, arp_tpa='10.0.1.60')
    assert arp.field('arp_sha') == P.ROUTER_MAC
    j = world.send('red-1', ipv4_dst='10.0.1.60', **tcp(443))
    assert j.field('tunnel_id') == RED
    assert node_of(j) == bucket_owner(ENDPOINT['id'], bucket('10.0.1.10', 40000), ENDPOINT['shard'])
    # only its service's listener ports; the same address in blue is nobody's
    assert world.send('red-1', ipv4_dst='10.0.1.60', **tcp(22)).verdict == 'dropped: no-mapping at MAPPING'
    assert world.send('web-1', ipv4_dst='10.0.1.60', **tcp(443)).verdict == 'dropped: no-mapping at MAPPING'


class Backend:
    def __init__(self):
        self.failed = None

    def hyperplane(self):
        return Hyperplane(CONFIG, IPS).with_failed(['hp1']).describe()

    def set_failed_hyperplane(self, names):
        if 'hp9' in names:
            raise LookupError("no Hyperplane node 'hp9'")
        self.failed = names
        return names


def post(api, path, body):
    return api.handle('POST', path, {'X-Vpclab-Token': 't', 'Content-Type': 'application/json'},
                      json.dumps(body).encode())


def test_the_management_api_sets_the_failed_nodes():
    backend = Backend()
    api = M.Api(backend, 't')
    assert post(api, '/hyperplane/failed', {'failed': ['hp2', 'hp1', 'hp2']}) == (200, {'failed': ['hp1', 'hp2']})
    assert backend.failed == ['hp1', 'hp2']
    assert post(api, '/hyperplane/failed', {'failed': ['hp9']})[0] == 404
    assert post(api, '/hyperplane/failed', {'failed': 'hp1'})[0] == 400
    assert post(api, '/hyperplane/failed', {'failed': [3]})[0] == 400
    assert post(api, '/hyperplane/failed', {'nodes': []})[0] == 400
    status, shown = api.handle('GET', '/hyperplane', {})
    assert status == 200 and shown['failed'] == ['hp1']
    assert shown['resources'][0] == dict(kind='nat', id=NAT['id'], name='nat-a', shard=['hp1', 'hp2'], live=['hp2'])
