"""`vpclab trace` through Hyperplane on a real lab (topologies/hyperplane.yaml): an instance through its
NAT gateway to the internet, to an NLB's listener and to an interface endpoint, and the internet to
pub-nlb's elastic IP (or a port it has no listener on); the model (the nodes' own decisions on the
packet's bytes) and one real packet (the hosts' flows, the node's and the edge's counters) name the
same node and agree."""
import pytest
from conftest import topology

from testbed.commands.trace import probe
from testbed.lab import Lab
from testbed.observe.trace_model import TraceState, trace
from testbed.observe.trace_wire import trace_wire


@pytest.fixture(scope='module')
def lab():
    with Lab(topology('hyperplane.yaml')) as lab:
        yield lab


def node_of(t):
    return next(s.host for s in t.steps if s.stage == 'HYPERPLANE_NODE')


@pytest.mark.parametrize('proto', ['tcp/80', 'icmp'])
def test_nat_gateway_to_the_internet_in_both_modes(lab, proto):
    model = trace(lab.topology, TraceState.of_lab(lab), 'app-1', 'example-web', probe(proto))
    wire = trace_wire(lab, 'app-1', 'example-web', probe(proto))
    assert model.key == ('reachable', None, None, None), model.explanation()
    assert wire.agrees(model), [(s.stage, s.host, s.detail) for s in wire.steps]
    assert node_of(wire) == node_of(model)
    stages = [s.stage for s in wire.steps]
    assert stages[-4:] == ['HYPERPLANE', 'HYPERPLANE_NODE', 'EDGE', 'OUTSIDE'], stages
    assert 'out +1' in wire.steps[-3].detail and 'out:internet' in wire.steps[-2].detail
    assert wire.steps[-1].host == 'example-web'


def test_to_a_load_balancers_listener_in_both_modes(lab):
    model = trace(lab.topology, TraceState.of_lab(lab), 'app-1', 'web-nlb', probe('tcp/80'))
    wire = trace_wire(lab, 'app-1', 'web-nlb', probe('tcp/80'))
    assert model.key == ('reachable', None, None, None), model.explanation()
    assert wire.agrees(model), [(s.stage, s.host, s.detail) for s in wire.steps]
    assert node_of(wire) == node_of(model)
    target = model.steps[-1].detail.removeprefix('to ').removesuffix('\'s port')
    assert f'flows:{target} +1' in next(s.detail for s in wire.steps if s.stage == 'HYPERPLANE_NODE')
    assert wire.steps[-1].stage == 'DELIVER' and wire.steps[-1].host == lab.topology.instance(target).host
    again = trace_wire(lab, 'app-1', 'web-nlb', probe('tcp/80'))      # the same 5-tuple: the NLB's existing flow
    assert again.agrees(model) and node_of(again) == node_of(model)


def test_to_an_interface_endpoint_in_both_modes(lab):
    ep = lab.topology.vpcs['blue'].endpoints['api-ep']
    model = trace(lab.topology, TraceState.of_lab(lab), 'app-1', ep.ip, probe('tcp/443'))
    wire = trace_wire(lab, 'app-1', ep.ip, probe('tcp/443'))
    assert model.key == ('reachable', None, None, None), model.explanation()
    assert wire.agrees(model), [(s.stage, s.host, s.detail) for s in wire.steps]
    assert node_of(wire) == node_of(model)


def test_the_internet_to_an_internet_facing_nlb(lab):
    model = trace(lab.topology, TraceState.of_lab(lab), 'example-web', 'pub-nlb', probe('tcp/80'))
    wire = trace_wire(lab, 'example-web', 'pub-nlb', probe('tcp/80'))
    assert model.key == ('reachable', None, None, None), model.explanation()
    assert wire.agrees(model), [(s.stage, s.host, s.detail) for s in wire.steps]
    node = [s.host for s in model.steps if s.stage == 'HYPERPLANE_NODE']
    assert [s.host for s in wire.steps if s.stage == 'HYPERPLANE_NODE'] == node
    target = model.steps[-1].detail.removeprefix('to ').removesuffix('\'s port')
    assert f'flows:{target} +1' in next(s.detail for s in wire.steps if s.stage == 'HYPERPLANE_NODE')
    assert wire.steps[-1].stage == 'DELIVER' and wire.steps[-1].host == lab.topology.instance(target).host


def test_no_listener_on_that_port(lab):
    model = trace(lab.topology, TraceState.of_lab(lab), 'example-web', 'pub-nlb', probe('tcp/81'))
    wire = trace_wire(lab, 'example-web', 'pub-nlb', probe('tcp/81'))
    assert (model.verdict, model.stage, model.reason) == ('dropped', 'HYPERPLANE_NODE', 'no-listener')
    assert wire.agrees(model), [(s.stage, s.host, s.detail) for s in wire.steps]
