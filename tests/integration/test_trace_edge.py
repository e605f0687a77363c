"""`vpclab trace` through the edge on a real lab (topologies/gateways.yaml): from the internet to an elastic
IP (allowed, denied by the instance's security group, no elastic IP, no route back to igw), from a site
over the VPN, out to the internet and to the site; the model (Blackfoot's own decisions on the packet's
bytes) and one real packet (the hosts' flows, the edge's counters by reason, what the outside host
received) agree."""
import subprocess
import sys

import pytest
from conftest import ROOT, topology

from testbed.commands.trace import probe
from testbed.lab import Lab
from testbed.observe.trace_model import TraceState, trace
from testbed.observe.trace_wire import trace_wire

CASES = [  # src, dst, protocol, (verdict, stage, host, reason)
    ('example-web', 'web-eip', 'tcp/80', ('reachable', None, None, None)),
    ('example-web', 'web-eip', 'tcp/22', ('dropped', 'INGRESS_SG_RULES', 'r1-h1', 'security-group')),
    ('example-web', 'web-2', 'tcp/80', ('dropped', 'EDGE', 'edge1', 'no-elastic-ip')),
    ('example-web', 'app-eip', 'tcp/80', ('dropped', 'EDGE', 'edge1', 'no-route-to-igw')),
    ('corp-1', 'app-1', 'tcp/22', ('reachable', None, None, None)),
    ('web-1', 'example-web', 'tcp/80', ('reachable', None, None, None)),
    ('web-2', 'example-web', 'icmp', ('dropped', 'EDGE', 'edge1', 'no-elastic-ip')),
    ('app-1', 'corp-1', 'udp/5000', ('reachable', None, None, None)),
    ('corp-2', 'app-1', 'icmp', ('reachable', None, None, None)),          # Direct Connect, both ways
    ('app-1', 'corp-2', 'tcp/22', ('reachable', None, None, None)),
    ('app-1', 's3', 'tcp/80', ('reachable', None, None, None)),            # the gateway endpoint
]


@pytest.fixture(scope='module')
def lab():
    with Lab(topology('gateways.yaml')) as lab:
        yield lab


@pytest.mark.parametrize('src, dst, proto, want', CASES)
def test_model_and_wire_agree_through_the_edge(lab, src, dst, proto, want):
    model = trace(lab.topology, TraceState.of_lab(lab), src, dst, probe(proto))
    wire = trace_wire(lab, src, dst, probe(proto))
    assert model.key == want, model.explanation()
    assert wire.key == want, [(s.stage, s.host, s.detail) for s in wire.steps]
    assert wire.agrees(model), (wire.key, model.key)
    if want[1] == 'EDGE':                   # the edge's counter of that reason counted the packet
        assert wire.steps[-1].packets >= 1 and f'drop:{want[3]}' in wire.steps[-1].detail
    if 'OUTSIDE' in [s.stage for s in model.steps][-1:]:
        assert wire.steps[-1].stage == 'OUTSIDE' and wire.steps[-1].host == dst


def test_inbound_by_the_elastic_ip_names_the_mapping_in_both_modes(lab):
    model = trace(lab.topology, TraceState.of_lab(lab), 'example-web', 'web-eip', probe('tcp/80'))
    edge = next(s for s in model.steps if s.stage == 'EDGE')
    assert edge.detail.startswith('destination 203.0.113.1 -> 10.0.1.10 (elastic IP web-eip)')
    wire = trace_wire(lab, 'example-web', 'web-eip', probe('tcp/80'))
    assert [s.stage for s in wire.steps][:3] == ['OUTSIDE', 'EDGE', 'CHECK']
    assert 'in:igw +1' in wire.steps[1].detail and wire.steps[-1].stage == 'DELIVER'


def vpclab(*args):
    out = subprocess.run([sys.executable, '-m', 'testbed.commands.cli', *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    return out.returncode, out.stdout.strip() or out.stderr.strip()


def test_minimal_from_another_terminal(lab):
    assert vpclab('trace', '--minimal', 'example-web', 'web-eip', 'tcp/80') == \
        (0, 'example-web -> web-eip tcp/80: allowed')
    assert vpclab('trace', '--wire', '--minimal', 'example-web', 'web-2', 'tcp/80') == \
        (0, 'example-web -> web-2 tcp/80: dropped at EDGE on edge1: no-elastic-ip')
    rc, out = vpclab('trace', '--wire', 'example-web', 'web-eip', 'tcp/22')
    assert rc == 0 and 'the model agrees' in out and 'INGRESS_SG_RULES' in out
