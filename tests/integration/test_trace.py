"""`vpclab trace` on a real lab: the model (from the controller's state) and one real packet (the flows it
met, by their counters) name the same verdict and the same dropping stage, for every kind of drop the
firewall lab has and for an allowed packet across hosts.  unregistered-source: a forged encapsulated packet
(wire) and the same source claimed on the wrong host (model), both with --from-host."""
import pytest
from conftest import topology

from testbed.commands.trace import probe
from testbed.lab import Lab
from testbed.observe.trace_model import TraceState, trace
from testbed.observe.trace_wire import trace_wire

CASES = [  # src, dst, protocol, from_host, (verdict, stage, host, reason)
    ('client-1', 'web-1', 'tcp/80', None, ('reachable', None, None, None)),
    ('client-1', 'web-1', 'tcp/22', None, ('dropped', 'INGRESS_SG_RULES', 'r1-h1', 'security-group')),
    ('client-1', 'db-1', 'tcp/80', None, ('dropped', 'INGRESS_NACL', 'r1-h3', 'network-acl')),
    ('web-1', '10.5.0.1', 'icmp', None, ('dropped', 'ROUTE_TABLE', 'r1-h1', 'no-route')),
    ('web-1', '10.0.1.99', 'udp/53', None, ('dropped', 'MAPPING', 'r1-h1', 'no-mapping')),
    ('client-1', 'web-1', 'tcp/80', 'r1-h3', ('dropped', 'CHECK', 'r1-h1', 'unregistered-source')),
]


@pytest.fixture(scope='module')
def lab():
    with Lab(topology('firewall.yaml')) as lab:
        yield lab


@pytest.mark.parametrize('src, dst, proto, from_host, want', CASES)
def test_model_and_wire_agree(lab, src, dst, proto, from_host, want):
    model = trace(lab.topology, TraceState.of_lab(lab), src, dst, probe(proto), from_host)
    wire = trace_wire(lab, src, dst, probe(proto), from_host)
    assert model.key == want, model.explanation()
    assert wire.key == want, [(s.stage, s.host, s.detail) for s in wire.steps]
    if want[0] == 'dropped':
        assert wire.steps[-1].packets >= 1 and 'cookie=0x4' in wire.steps[-1].flow
