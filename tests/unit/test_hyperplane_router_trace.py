"""The trace model and the reachability matrix for Hyperplane's ways out of the VPC (a nat: route, an NLB's
and an interface endpoint's address): the node the model names is the one the controller's flows send the
packet to (fake switch), with and without failed nodes."""
import dataclasses
import os

import pytest
from test_trace_fakeswitch import Fabric

from testbed.commands import reachability as R
from testbed.commands.trace import probe
from testbed.fabric import hyperplane_plan
from testbed.observe.trace_ends import resolve
from testbed.observe.trace_model import TraceState, trace
from testbed.topology import load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOPO = load(os.path.join(ROOT, 'topologies', 'edge.yaml'))
ENDPOINT_IP = TOPO.vpcs['blue'].endpoints['api-ep'].ip
NODE_IPS = {n.ip: n.name for n in hyperplane_plan.nodes(TOPO)}
CASES = [('web-2', 'example-web', 'tcp/443'), ('web-2', 'example-web', 'udp/53'), ('web-2', 'example-web', 'icmp'),
         ('db-1', 'web-nlb', 'tcp/80'), ('web-2', 'web-nlb', 'tcp/80'), ('web-1', ENDPOINT_IP, 'tcp/443')]


@pytest.mark.parametrize('failed', [(), ('hp3',), ('hp1', 'hp3')])
def test_the_node_the_model_names_is_where_the_flows_send_the_packet(failed):
    fabric = Fabric(TOPO, failed)
    state = dataclasses.replace(TraceState.of_topology(TOPO), failed=failed)
    for src, dst, text in CASES:
        t = trace(TOPO, state, src, dst, probe(text))
        _, _, j = fabric.first(src, resolve(TOPO, dst, 'destination', src).ip, probe(text))
        said = (src, dst, text, t.minimal(), j.verdict)
        if t.stage == 'HYPERPLANE':
            assert t.key[1:] == ('HYPERPLANE', TOPO.instance(src).host, 'no-live-node'), said
            assert j.verdict == 'dropped: no-live-node at HYPERPLANE', said
            continue
        node = NODE_IPS[j.field('tun_ipv4_dst')]
        stages = [s.stage for s in t.steps]
        chosen = t.steps[stages.index('HYPERPLANE')]
        assert f'-> {node} (' in chosen.detail and node not in failed, said
        assert t.steps[stages.index('HYPERPLANE_NODE')].host == node, said


def test_with_every_node_of_the_nat_gateways_shard_failed_the_nlb_still_answers():
    nat = next(r for r in hyperplane_plan.resources(TOPO) if r.name == 'nat-a')
    state = dataclasses.replace(TraceState.of_topology(TOPO), failed=tuple(nat.shard))
    assert trace(TOPO, state, 'web-2', 'example-web', probe('tcp/443')).reason == 'no-live-node'
    nlb = next(r for r in hyperplane_plan.resources(TOPO) if r.name == 'web-nlb')
    if set(nlb.shard) - set(nat.shard):
        assert trace(TOPO, state, 'db-1', 'web-nlb', probe('tcp/80')).verdict == 'reachable'


def test_an_nlb_address_is_answered_by_the_vpc_router_and_only_its_listener_goes_to_hyperplane():
    t = trace(TOPO, TraceState.of_topology(TOPO), 'web-1', 'web-nlb', probe('tcp/80'))
    assert 'load balancer web-nlb' in next(s.detail for s in t.steps if s.stage == 'ARP')
    assert 'listener' in next(s.detail for s in t.steps if s.stage == 'ROUTE_TABLE')
    assert trace(TOPO, TraceState.of_topology(TOPO), 'web-1', 'web-nlb', probe('icmp')).reason == 'no-mapping'


def test_a_nat_route_leaves_the_vpc_in_the_reachability_matrix():
    web2 = TOPO.instance('web-2')
    outside = dataclasses.replace(web2, ip='198.51.100.10')
    assert R.route(TOPO, web2, outside) == 'leaves-vpc'
    assert R.route(TOPO, web2, TOPO.instance('web-1')) is None


@pytest.mark.parametrize('dst, text', [('web-nlb', 'tcp/80'), (ENDPOINT_IP, 'tcp/443')])
def test_an_nlb_or_endpoint_address_from_a_peered_vpc_is_not_carried(dst, text):
    """AWS carries these over peering; this version does not (docs/topology-format.md says so): the
    peer's packet meets the mapping, which knows instances only."""
    t = trace(TOPO, TraceState.of_topology(TOPO), 'green-1', dst, probe(text))
    _, _, j = Fabric(TOPO, ()).first('green-1', resolve(TOPO, dst, 'destination', 'green-1').ip, probe(text))
    assert t.key[1::2] == ('MAPPING', 'no-mapping') and j.verdict == 'dropped: no-mapping at MAPPING'
