"""`vpclab trace` in model mode on topology files alone: each stage's decision by name, with what decided,
and the verdict (no lab, no root)."""
import json
import os

import pytest

from testbed.commands import cli
from testbed.commands.trace import probe
from testbed.errors import UsageError
from testbed.observe.trace_model import TraceState, trace
from testbed.topology import load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def model(name, src, dst, proto='icmp', **kw):
    topo = load(os.path.join(ROOT, 'topologies', name))
    return trace(topo, TraceState.of_topology(topo), src, dst, probe(proto), **kw)


def detail(t, stage):
    return next(s.detail for s in t.steps if s.stage == stage)


def test_allowed_across_hosts_names_the_rules_route_and_mapping():
    t = model('firewall.yaml', 'client-1', 'web-1', 'tcp/80')
    assert t.verdict == 'reachable' and t.minimal() == 'client-1 -> web-1 tcp/80: allowed'
    assert detail(t, 'INGRESS_SG_RULES') == 'allow: web, inbound tcp 80 from 0.0.0.0/0'
    assert detail(t, 'ROUTE_TABLE') == '10.0.0.0/16 -> local (rtb main)'
    assert detail(t, 'MAPPING').startswith('10.0.1.10 -> web-1 on r1-h1 (100.127.0.1)')
    mac = load(os.path.join(ROOT, 'topologies', 'firewall.yaml')).instance('client-1').mac
    assert detail(t, 'CHECK') == f'10.0.1.30 / {mac} (VNI 100) is registered on r1-h2'
    stages = [s.stage for s in t.steps]
    assert stages == ['CLASSIFY', 'ARP', 'EGRESS_SG_RULES', 'EGRESS_NACL', 'ROUTE_TABLE', 'MAPPING', 'EGRESS_COMMIT',
                      'CHECK', 'DESTINATION', 'INGRESS_NACL', 'INGRESS_SG_RULES', 'DELIVER']
    assert [s.host for s in t.steps][:7] == ['r1-h2'] * 7 and t.steps[-1].host == 'r1-h1'


@pytest.mark.parametrize('src, dst, proto, minimal', [
    ('client-1', 'web-1', 'tcp/22', 'client-1 -> web-1 tcp/22: dropped at INGRESS_SG_RULES on r1-h1: security-group'),
    ('client-1', 'db-1', 'tcp/80', 'client-1 -> db-1 tcp/80: dropped at INGRESS_NACL on r1-h3: network-acl'),
    ('web-1', '10.5.0.1', 'icmp', 'web-1 -> 10.5.0.1 icmp: dropped at ROUTE_TABLE on r1-h1: no-route'),
    ('web-1', '10.0.1.99', 'udp/53', 'web-1 -> 10.0.1.99 udp/53: dropped at MAPPING on r1-h1: no-mapping'),
    ('edge-1', '10.8.0.1', 'icmp', 'edge-1 -> 10.8.0.1 icmp: dropped at ROUTE_TABLE on r1-h3: blackhole'),
])
def test_each_drop_is_named_with_its_stage_and_host(src, dst, proto, minimal):
    assert model('firewall.yaml', src, dst, proto).minimal() == minimal


def test_the_deciding_rule_is_named():
    t = model('firewall.yaml', 'client-1', 'db-1', 'tcp/80')
    assert 'strict rule 100 deny: inbound tcp 80 from 10.0.1.0/24' in t.explanation()
    assert 'no inbound rule of web admits tcp/22 from 10.0.1.30' in model('firewall.yaml', 'client-1', 'web-1',
                                                                          'tcp/22').explanation()
    out = model('firewall.yaml', 'edge-1', 'internet')
    assert detail(out, 'ROUTE_TABLE').startswith('0.0.0.0/0 -> igw (rtb edge): leaves blue')


def test_a_source_claimed_on_the_wrong_host_fails_the_check():
    t = model('firewall.yaml', 'client-1', 'web-1', 'tcp/80', from_host='r1-h3')
    assert t.key == ('dropped', 'CHECK', 'r1-h1', 'unregistered-source')
    assert 'runs on r1-h2 (100.127.0.2), but the packet came from r1-h3' in t.steps[-1].detail
    assert model('firewall.yaml', 'client-1', 'web-1', 'tcp/80', from_host='r1-h2').verdict == 'reachable'


def test_peering_route_and_the_vpc_it_names():
    t = model('peering.yaml', 'blue-1', 'green-1')
    assert t.verdict == 'reachable'
    assert detail(t, 'ROUTE_TABLE') == '10.1.0.0/16 -> pcx:blue-green (rtb main)'
    assert ', VNI 100' in detail(t, 'MAPPING')           # the sender's VNI is the one on the wire
    red = model('peering.yaml', 'blue-1', 'red-1')       # red is peered with nobody
    assert red.key == ('dropped', 'MAPPING', 'r1-h1', 'no-mapping') and 'not peered' in red.explanation()


def test_overlapping_spokes_the_route_table_decides_which_one():
    t = model('isolation.yaml', 'hub-1', 'b-2')
    assert t.verdict == 'reachable' and '-> pcx:hub-b' in detail(t, 'ROUTE_TABLE')
    a2 = model('isolation.yaml', 'hub-1', 'a-2')         # same address as b-2, in the spoke the route skips
    assert a2.verdict == 'elsewhere' and 'delivered to b-2' in a2.minimal()
    assert model('isolation.yaml', 'hub-1', 'a-1', 'udp/6000').key == \
        ('dropped', 'INGRESS_NACL', 'r1-h2', 'network-acl')
    assert model('isolation.yaml', 'hub-1', 'a-1', 'udp/6001').verdict == 'reachable'


def test_what_never_enters_a_vpc_is_said():
    t = model('edge.yaml', 'example-web', 'corp-1', 'tcp/80')
    assert t.verdict == 'not-carried' and 'both outside' in t.why
    assert model('edge.yaml', 'web-nlb', 'web-1', 'tcp/8080').verdict == 'not-carried'
    # a load balancer's address on another port than its listener's is nobody's
    assert model('edge.yaml', 'web-1', 'web-nlb', 'tcp/22').key[3] == 'no-mapping'
    assert 'load balancer web-nlb' in model('edge.yaml', 'web-1', 'web-nlb', 'tcp/22').explanation()


def test_bad_input_is_a_usage_error():
    with pytest.raises(UsageError):
        model('firewall.yaml', 'client-1', 'nobody')
    with pytest.raises(UsageError):
        model('firewall.yaml', '10.0.1.30', 'web-1')
    for bad in ('tcp', 'tcp/0', 'udp/70000', 'icmp/3', 'sctp/9'):
        with pytest.raises(UsageError):
            probe(bad)


def test_cli_exit_codes_and_outputs(capsys):
    path = os.path.join(ROOT, 'topologies', 'firewall.yaml')
    assert cli.main(['trace', '--topology', path, '--minimal', 'client-1', 'web-1', 'tcp/22']) == 0
    assert capsys.readouterr().out.strip().endswith('dropped at INGRESS_SG_RULES on r1-h1: security-group')
    assert cli.main(['trace', '--topology', path, '-o', 'json', 'client-1', 'db-1', 'tcp/80']) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc['Verdict'], doc['Stage'], doc['Steps'][-1]['Reason']) == ('dropped', 'INGRESS_NACL', 'network-acl')
    assert cli.main(['trace', '--topology', path, 'client-1', 'web-1', 'tcp/80']) == 0
    assert 'INGRESS_SG_RULES' in capsys.readouterr().out
    assert cli.main(['trace', '--topology', path, 'client-1', 'nobody']) == 2
    assert cli.main(['trace', '--topology', path, 'client-1', 'web-1', 'tcp/x']) == 2


def test_ofproto_trace_lines_and_counter_deltas():
    from testbed.observe.trace_ofproto import parse_path
    from testbed.observe.trace_wire import moved
    text = (' 0. ip,in_port=1,nw_src=10.0.1.30, priority 100, cookie 0x2000000000003\n'
            '    goto_table:20\n'
            '    110. tcp,reg3=0x3, priority 3, cookie 0x9000000000003\n'
            ' 0. priority 0, cookie 0x4000000000006\n'
            '21. ct_state=+new+trk,ip,reg0=0x3, priority 100\n')
    assert parse_path(text) == {(0, 100, '0x2000000000003', 'ip,in_port=1,nw_src=10.0.1.30'),
                                (110, 3, '0x9000000000003', 'tcp,reg3=0x3'), (0, 0, '0x4000000000006', ''),
                                (21, 100, '0x0', 'ct_state=+new+trk,ip,reg0=0x3')}
    flow = dict(n_packets=5)
    assert moved({'h': {'k': dict(n_packets=3), 'j': dict(n_packets=1)}},
                 {'h': {'k': flow, 'j': dict(n_packets=1)}}) == {'h': {'k': (flow, 2)}}
