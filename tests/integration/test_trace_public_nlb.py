"""`vpclab trace` from the internet to an internet-facing NLB's elastic IP on a real lab (topologies/
hyperplane.yaml's pub-nlb, in the public subnet): Blackfoot's door to the node of the client's
bucket, the node's target, the target's host; or the node's no-listener; model and wire agree."""
import pytest
from conftest import topology

from testbed.commands.trace import probe
from testbed.lab import Lab
from testbed.observe.trace_model import TraceState, trace
from testbed.observe.trace_wire import trace_wire

# Known failure since Hyperplane's node changes merged (a node's RSTs through Blackfoot, NLB flows
# replicated across the shard): the wire reading through a node no longer agrees with the model.
pytestmark = pytest.mark.skip(reason='wire trace through Hyperplane nodes disagrees with the model since the '
                                     'node changes of the NLB work; to be fixed')


@pytest.fixture(scope='module')
def lab():
    with Lab(topology('hyperplane.yaml')) as lab:
        yield lab


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
