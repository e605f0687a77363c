"""Checks files and their reports (testbed/labs/checks.py), the lab catalog (testbed/labs/catalog.py) and
`vpclab check`'s exit code 2 for a bad file: no lab, no root."""
import dataclasses
import json
import pathlib
import re
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest

from testbed.commands import cli
from testbed.labs import catalog, checks
from testbed.labs.checks import Check, Drop, Result
from testbed.labs.runner import Runner, box_drops, dig_answer
from testbed.topology import TopologyError, load

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
LAB1 = ROOT / 'labs' / '01-journey'


@pytest.fixture(scope='module')
def topo():
    return load(ROOT / 'topologies' / 'edge.yaml')


def read(text, topo):
    return checks.loads(text, 'x.yaml', topo)


def error(text, topo):
    with pytest.raises(TopologyError) as e:
        read(text, topo)
    return str(e.value)


@pytest.mark.parametrize('lab', catalog.labs(), ids=lambda lab: lab.name)
def test_every_lab_has_its_parts_and_its_checks_name_what_both_topologies_have(lab):
    assert lab.description and not lab.description.startswith('(')
    found = checks.load(lab.checks, load(lab.topology))
    solution = lab.solution
    if catalog.is_topology(solution):
        assert checks.load(lab.checks, load(solution)) == found
    else:
        assert catalog.read_commands(solution)
    assert len({c.name for c in found}) == len(found)


def test_the_labs_are_numbered_and_found_by_number_or_name():
    names = [lab.name for lab in catalog.labs()]
    assert names == ['01-journey', '02-isolation', '03-firewall', '04-getting-out', '05-hybrid', '06-hyperplane']
    assert catalog.find('1').name == catalog.find('01').name == catalog.find('journey').name == '01-journey'
    with pytest.raises(Exception, match='labs are: 01-journey'):
        catalog.find('nope')


def test_the_four_kinds_of_check_and_their_default_names(topo):
    found = read('''checks:
  - {name: web reaches db, from: web-1, to: db-1, protocol: tcp, port: 5432, expect: allowed}
  - {from: web-1, to: red-web-1, protocol: icmp, expect: denied, reason: no-mapping}
  - {from: example-web, to: web-eip, protocol: tcp, port: 80, expect: allowed}
  - {from: web-1, dns: db.corp.internal, expect: 10.0.1.20}
  - {from: corp-1, to: 10.0.1.10, protocol: udp, port: 53, expect: denied}
  - {from: web-1, to: s3-ep, protocol: tcp, port: 80, expect: allowed}
  - {from: web-1, to: web-nlb, protocol: tcp, port: 80, expect: allowed}
''', topo)
    assert [c.name for c in found] == ['web reaches db', 'web-1 -> red-web-1 icmp', 'example-web -> web-eip tcp/80',
                                      'web-1 dns db.corp.internal', 'corp-1 -> 10.0.1.10 udp/53',
                                      'web-1 -> s3-ep tcp/80', 'web-1 -> web-nlb tcp/80']
    assert found[1].reason == 'no-mapping' and found[1].port is None and found[0].line == 2
    assert found[3].dns == 'db.corp.internal' and found[3].expect == '10.0.1.20'


def test_an_empty_or_listed_checks_file_is_told_to_start_with_checks(topo):
    assert error('# nothing\n', topo) == 'x.yaml: the checks file is empty; it needs a checks: list ' \
                                          '(see docs/topology-format.md, "Labs and checks")'
    assert error('- {from: web-1, to: db-1, protocol: icmp, expect: allowed}\n', topo) == \
        'x.yaml:1: the top level is a list, not a mapping; start the file with checks:'


def test_a_check_to_a_load_balancer_s_or_endpoint_s_address_listens_on_their_targets():
    """By address as by name (the model's trace reads the address so too); api-ep (blue) and api-nlb (shop)
    share 10.0.1.4: from blue it is the endpoint."""
    runner = Runner(SimpleNamespace(topology=load(ROOT / 'topologies' / 'hyperplane.yaml'), state=None))

    def target(src, to, port):
        return runner.target(Check('c', src, 2, to=to, protocol='tcp', port=port))
    assert target('app-1', '10.0.1.4', 443).listeners == target('app-1', 'api-ep', 443).listeners == \
        (('api-1', 8443), ('api-2', 8443))
    assert target('app-1', '10.0.1.5', 80).listeners == (('web-1', 8080), ('web-2', 8080))
    assert target('example-web', '203.0.113.2', 80) == target('example-web', 'pub-nlb', 80)
    assert target('example-web', '203.0.113.2', 80).listeners == (('web-1', 8081), ('web-2', 8081))


DIG_HEAD = ';; ->>HEADER<<- opcode: QUERY, status: {}, id: 4242\n;; flags: qr aa rd ra; QUERY: 1, ANSWER: {}\n'


def test_what_dig_said_names_an_answer_without_address_as_such():
    """The name exists but has no A record (a zone's own name): NOERROR, no answer; not a silent server."""
    assert dig_answer(DIG_HEAD.format('NOERROR', 1) + 'db.corp.internal. 60 IN A 10.0.1.20\n', 0, '10.0.0.2') == \
        ('10.0.1.20', '10.0.0.2 answered')
    assert dig_answer(DIG_HEAD.format('NXDOMAIN', 0), 0, '10.0.0.2') == ('nxdomain', '10.0.0.2 answered NXDOMAIN')
    assert dig_answer(DIG_HEAD.format('NOERROR', 0), 0, '10.0.0.2') == \
        ('', '10.0.0.2 answered NOERROR with no address (the name has no A record)')
    assert dig_answer(DIG_HEAD.format('REFUSED', 0), 0, '10.0.0.2') == ('', '10.0.0.2 answered REFUSED')
    assert dig_answer(';; connection timed out; no servers could be reached\n', 9, '10.0.0.2') == \
        ('', 'no answer from 10.0.0.2 (;; connection timed out; no servers could be reached)')


def test_a_dns_check_may_ask_amazon_dns_for_an_instance_s_own_name(topo):
    """Names in ec2.internal are refused as a zone or dns_name of the file, not as a question."""
    found = read('checks:\n  - {from: web-1, dns: ip-10-0-1-10.ec2.internal, expect: 10.0.1.10}\n', topo)
    assert found[0].dns == 'ip-10-0-1-10.ec2.internal'


@pytest.mark.parametrize('text,said', [
    ('{from: web-9, to: db-1, protocol: icmp, expect: allowed}', "x.yaml:2: checks[0].from: 'web-9' is not in the "
     "topology; a check is sent from an instance or an outside host: did you mean 'web-2'?"),
    ('{from: web-1, to: db-9, protocol: icmp, expect: allowed}', "did you mean 'db-1'?"),
    ('{from: web-eip, to: db-1, protocol: icmp, expect: allowed}', "'web-eip' is no instance or outside host"),
    ('{from: web-1, to: db-1, protocol: sctp, expect: allowed}', "'sctp' is not a protocol"),
    ('{from: web-1, to: db-1, protocol: icmp, port: 80, expect: allowed}', 'icmp has no port'),
    ('{from: web-1, to: db-1, protocol: tcp, expect: allowed}', 'tcp needs a port'),
    ('{from: web-1, to: db-1, protocol: tcp, port: 70000, expect: allowed}', 'out of range'),
    ('{from: web-1, to: db-1, protocol: icmp, expect: denied, reason: firewall}', "'firewall' is not a drop reason"),
    ('{from: web-1, to: db-1, protocol: icmp, expect: allowed, reason: no-route}', 'goes with expect: denied'),
    ('{from: web-1, to: db-1, protocol: icmp, expect: maybe}', "'maybe' is not allowed or denied"),
    ('{from: web-1, to: db-1, dns: db.corp.internal, expect: allowed}', 'either to:'),
    ('{from: web-1, dns: db.corp.internal, protocol: udp, expect: 10.0.1.20}', 'a DNS check takes no protocol'),
    ('{from: web-1, dns: db.corp.internal, expect: allowed}', 'expects the IPv4 address'),
    ('{from: example-web, dns: db.corp.internal, expect: 10.0.1.20}', 'only instances ask'),
    ('{from: web-1, to: db-1, protocol: icmp, expect: allowed, colour: red}', "unknown key 'colour'"),
    ('{to: db-1, protocol: icmp, expect: allowed}', "'from' is missing"),
    ('{from: web-1, to: web-nlb, protocol: tcp, port: 80, expect: allowed, failed: [hp9]}',
     "'hp9' is no Hyperplane node; did you mean 'hp4'? the nodes are: hp1, hp2, hp3, hp4"),
    ('{from: web-1, to: web-nlb, protocol: tcp, port: 80, expect: allowed, failed: [hp1, hp1]}', 'named twice'),
    ('{from: web-1, to: web-nlb, protocol: tcp, port: 80, expect: allowed, failed: [hp1, hp2, hp3, hp4]}',
     'every Hyperplane node would be down'),
    ('{from: web-1, to: web-nlb, protocol: tcp, port: 80, expect: allowed, failed: []}', 'at least one'),
    ('{from: web-1, dns: db.corp.internal, expect: 10.0.1.20, failed: hp1}', 'a DNS check takes no failed'),
])
def test_a_bad_check_is_one_line_naming_the_file_and_line(topo, text, said):
    message = error(f'checks:\n  - {text}\n', topo)
    assert said in message and message.startswith('x.yaml:2') and '\n' not in message


def test_failed_names_the_hyperplane_nodes_down_during_a_check(topo):
    one, two = read('''checks:
  - {from: web-1, to: web-nlb, protocol: tcp, port: 80, expect: allowed, failed: hp2}
  - {name: both, from: web-1, to: web-nlb, protocol: tcp, port: 80, expect: allowed, failed: [hp2, hp3]}
''', topo)
    assert (one.failed, one.name, two.failed) == (('hp2',), 'web-1 -> web-nlb tcp/80 without hp2', ('hp2', 'hp3'))
    plain = load(LAB1 / 'topology.yaml')
    said = error('checks:\n  - {from: web-1, to: app-1, protocol: icmp, expect: allowed, failed: hp1}\n', plain)
    assert "'hp1': the topology has no Hyperplane nodes" in said


def test_bad_files_as_a_whole(topo):
    assert 'no checks' in error('checks: []\n', topo)
    assert "unknown key 'other'" in error('other: 1\n', topo)
    assert "'checks' is missing" in error('checks:\n', topo)
    assert 'YAML syntax error' in error('checks: [\n', topo)
    twice = '  - {name: a, from: web-1, to: db-1, protocol: icmp, expect: allowed}\n'
    said = error('checks:\n' + twice * 2, topo)
    assert said.startswith('x.yaml:3') and 'written twice (first on line 2)' in said


def test_edge_drop_reasons_are_those_blackfoot_counts():
    source = ''.join((ROOT / 'testbed' / 'appliances' / f).read_text() for f in ('blackfoot.py', 'esp.py'))
    literal = set(re.findall(r"(?:self\.drop\(|EspError\(|if door else )'([a-z0-9-]+)'", source))
    routed = {f'no-route-to-{k}' for k in ('igw', 'vgw', 'dx', 'vpce')}     # self.drop(f'no-route-to-{via}')
    doors = set(re.findall(r"'([a-z-]+)'", (ROOT / 'testbed' / 'appliances' / 'blackfoot_hyperplane.py').read_text()
                           .split('def why')[1].split('\n    def ')[0]))             # a door without an answer
    assert doors == {'not-a-flow', 'no-flow', 'no-live-node'}
    assert literal | routed | doors == set(checks.EDGE_DROP_REASONS)


def test_hyperplane_drop_reasons_are_those_the_nodes_count():
    source = ''.join((ROOT / 'testbed' / 'appliances' / 'hyperplane' / f).read_text()
                     for f in ('wire.py', 'nat.py', 'nlb.py', 'privatelink.py'))
    # the cores' verdicts, which the node counts as drop:<reason>, and what it counts before deciding
    literal = set(re.findall(r"(?:_drop|Drop)\('([a-z0-9-]+)'", source) + re.findall(r"'drop:([a-z0-9-]+)'", source))
    assert literal == set(checks.HYPERPLANE_DROP_REASONS)


def test_a_check_may_name_a_hyperplane_node_s_reason(topo):
    found, = read('checks:\n  - {from: web-1, to: web-nlb, protocol: tcp, port: 81, expect: denied, '
                  'reason: no-listener}\n', topo)
    assert found.reason == 'no-listener'
    said = error('checks:\n  - {from: web-1, to: web-nlb, protocol: tcp, port: 81, expect: denied, '
                 'reason: no-listner}\n', topo)
    assert said.startswith('x.yaml:2') and "'no-listner' is not a drop reason" in said
    assert "did you mean 'no-listener'?" in said and '\n' not in said


def test_a_reason_no_check_can_meet_is_refused(topo):
    said = error('checks:\n  - {from: web-1, to: web-2, protocol: udp, port: 53, expect: denied, '
                 'reason: services-throttled}\n', topo)
    assert said.startswith('x.yaml:2') and 'services-throttled is met only by a flood' in said and '\n' not in said


# ---- judging and reports ------------------------------------------------------------------------

ALLOWED = Check('a', 'web-1', 2, to='db-1', protocol='tcp', port=5432)
DENIED = Check('b', 'web-1', 3, to='db-1', protocol='tcp', port=22, expect='denied', reason='security-group')
DNS = Check('c', 'web-1', 4, dns='db.corp.internal', expect='10.0.1.20')
SG = Drop('r1-h2', 'INGRESS_SG_RULES', 'security-group', 'no inbound rule of db admits tcp/22')
ACL = Drop('r1-h2', 'EGRESS_NACL', 'network-acl', 'the reply: db-acl rule * deny')


def test_judging():
    assert Result(ALLOWED, 'allowed').passed
    failed = Result(ALLOWED, 'denied', 'no answer within 1 s', [SG])
    assert not failed.passed and failed.why == f'denied, expected allowed: {SG.words()}'
    assert Result(DENIED, 'denied', drops=[SG]).passed
    wrong = Result(DENIED, 'denied', drops=[ACL])
    assert not wrong.passed and 'not for security-group: dropped at EGRESS_NACL on r1-h2: network-acl' in wrong.why
    assert not Result(DENIED, 'allowed').passed
    assert Result(DNS, '10.0.1.20').passed and Result(DNS, '10.0.1.9,10.0.1.20').passed
    assert Result(DNS, 'nxdomain').why == 'db.corp.internal answered nxdomain, expected 10.0.1.20'
    broken = Result(ALLOWED, '', error='no lab')
    assert not broken.passed and broken.why == 'could not run: no lab'
    nothing = Result(ALLOWED, 'denied', 'no answer within 1 s; no drop counter moved')
    assert nothing.why == 'denied, expected allowed: no answer within 1 s; no drop counter moved'


NODE = Drop('hp3', 'HYPERPLANE_NODE', 'no-listener')


def test_judging_a_drop_at_a_hyperplane_node():
    no_listener = Check('d', 'example-web', 5, to='pub-nlb', protocol='tcp', port=81, expect='denied',
                        reason='no-listener')
    assert NODE.words() == 'dropped at HYPERPLANE_NODE on hp3: no-listener'
    assert Result(no_listener, 'denied', drops=[NODE]).passed
    wrong = Result(dataclasses.replace(no_listener, reason='no-flow'), 'denied', drops=[NODE])
    assert not wrong.passed
    assert wrong.why == 'denied, but not for no-flow: dropped at HYPERPLANE_NODE on hp3: no-listener'
    allowed = Result(dataclasses.replace(no_listener, expect='allowed', reason=None), 'denied', drops=[NODE])
    assert allowed.why == 'denied, expected allowed: dropped at HYPERPLANE_NODE on hp3: no-listener'


def test_the_drops_the_edge_and_hyperplane_nodes_counted_between_two_reads():
    before = {'edge1': {'drop:no-mapping': 4, 'relayed': 9}, 'hp3': {'drop:no-listener': 1, 'health-probes': 7}}
    after = {'edge1': {'drop:no-mapping': 4, 'relayed': 12, 'drop:no-elastic-ip': 1},
             'hp3': {'drop:no-listener': 2, 'health-probes': 9, 'traced:drop:no-flow': 1}, 'hp1': {'drop:no-flow': 1}}
    assert box_drops(before, after) == [Drop('edge1', 'EDGE', 'no-elastic-ip', 'Blackfoot'),
                                        Drop('hp1', 'HYPERPLANE_NODE', 'no-flow'), NODE]
    assert box_drops(after, after) == []


def test_a_drop_only_the_model_predicts_is_said_so_and_does_not_count_as_the_data_plane_s_reason():
    modelled = Drop('r1-h2', 'INGRESS_SG_RULES', 'security-group', 'no inbound rule', counted=False)
    assert modelled.words() == ('no drop counter moved; the model says it is dropped at INGRESS_SG_RULES on '
                                'r1-h2: security-group (no inbound rule)')
    said = Result(DENIED, 'denied', drops=[modelled])
    assert not said.passed and 'not for security-group: no drop counter moved' in said.why
    assert Result(ALLOWED, 'denied', drops=[modelled]).why == f'denied, expected allowed: {modelled.words()}'


RESULTS = [Result(ALLOWED, 'allowed', 'connected', seconds=0.1), Result(DENIED, 'denied', drops=[ACL], seconds=1.2),
           Result(DNS, '10.0.1.20', '10.0.0.2 answered')]


def test_the_table_says_where_and_why_a_failure_was_dropped():
    text = checks.render(RESULTS, 'lab 1', 'table')
    assert '2 of 3 checks passed, 1 failed' in text
    assert 'FAIL b: denied, but not for security-group: dropped at EGRESS_NACL on r1-h2: network-acl' in text
    row = next(line for line in text.splitlines() if line.startswith('b '))
    assert 'denied (security-group)' in row and 'FAIL' in row and 'db-acl rule * deny' in row


def test_json_csv_and_junit():
    doc = json.loads(checks.render(RESULTS, 'lab 1', 'json'))
    assert (doc['Passed'], doc['Total']) == (2, 3)
    assert doc['Checks'][1]['Drops'] == [dict(Host='r1-h2', Stage='EGRESS_NACL', Reason='network-acl',
                                              Rule='the reply: db-acl rule * deny', Counted=True)]
    assert doc['Checks'][1]['Failed'] == []
    csv = checks.render(RESULTS, 'lab 1', 'csv').splitlines()
    assert csv[0] == 'CHECK,EXPECT,GOT,RESULT,WHERE AND WHY'
    assert csv[2].startswith('b,denied (security-group),denied,FAIL')
    suite = ET.fromstring(checks.render(RESULTS, 'lab 1', 'junit').split('?>', 1)[1]).find('testsuite')
    assert (suite.get('tests'), suite.get('failures'), suite.get('errors')) == ('3', '1', '0')
    failure = suite.findall('testcase')[1].find('failure')
    assert 'not for security-group' in failure.get('message') and 'EGRESS_NACL' in failure.text


def test_grading_counts_per_student():
    graded = [('alice', RESULTS, None), ('bob', RESULTS[:1], None), ('carol', None, 'bad submission: x.yaml:3: ...')]
    table = checks.render_grades(graded, 'lab 1', 'table')
    assert re.search(r'alice\s+2\s+3\s+b', table) and re.search(r'bob\s+1\s+1\s+-', table) and 'carol' in table
    csv = checks.render_grades(graded, 'lab 1', 'csv').splitlines()
    assert csv[0] == 'STUDENT,CHECK,EXPECT,GOT,RESULT,WHERE AND WHY' and len(csv) == 1 + 3 + 1 + 1
    doc = json.loads(checks.render_grades(graded, 'lab 1', 'json'))
    assert [(s['Student'], s['Passed'], s['Total']) for s in doc['Students']] == [('alice', 2, 3), ('bob', 1, 1),
                                                                                  ('carol', 0, 0)]
    suites = ET.fromstring(checks.render_grades(graded, 'lab 1', 'junit').split('?>', 1)[1]).findall('testsuite')
    assert [s.get('name') for s in suites] == ['alice', 'bob', 'carol'] and suites[2].get('errors') == '1'


# ---- commands files and the command line ----------------------------------------------------------

def test_a_commands_file_is_checked_before_it_runs(tmp_path):
    assert [(c.number, c.command) for c in catalog.read_commands(LAB1 / 'solution' / 'commands.txt')] == \
        [(2, 'security-group')]
    bad = tmp_path / 'bad.txt'
    bad.write_text('# comment\nsg blue app add inbound tcp 80 sg:web\nreboot web-1\n')
    with pytest.raises(TopologyError, match=r'bad.txt:3: .reboot. is no command of a running lab'):
        catalog.read_commands(bad)
    bad.write_text('flowlogs --action maybe\n')
    with pytest.raises(TopologyError, match=r'bad.txt:1: flowlogs: argument --action'):
        catalog.read_commands(bad)


def test_vpclab_check_exits_2_on_a_bad_file_before_booting(tmp_path, capsys):
    bad = tmp_path / 'checks.yaml'
    bad.write_text('checks:\n  - {from: web-9, to: app-1, protocol: icmp, expect: allowed}\n')
    assert cli.main(['check', str(LAB1 / 'topology.yaml'), str(bad)]) == 2
    assert f'{bad}:2: checks[0].from' in capsys.readouterr().err
    assert cli.main(['check', str(tmp_path / 'none.yaml'), str(LAB1 / 'checks.yaml')]) == 2
    assert cli.main(['lab', 'start', 'nope']) == 2


def test_vpclab_lab_list(capsys):
    assert cli.main(['lab', 'list']) == 0
    assert re.search(r'^01-journey +Lab 1', capsys.readouterr().out, re.M)


class FleetLab:
    """The part of testbed.lab.Lab that NodesDown uses: failing and restoring Hyperplane nodes."""

    def __init__(self, failed=()):
        self.failed_nodes, self.said = list(failed), []

    def fail_node(self, node):
        self.failed_nodes.append(node)
        self.said.append(f'fail {node}')

    def restore_node(self, node):
        self.failed_nodes.remove(node)
        self.said.append(f'restore {node}')


def test_a_check_s_failed_nodes_are_down_for_its_time_and_nodes_down_before_stay_down():
    from testbed.labs.runner import NodesDown
    lab = FleetLab(failed=['hp3'])
    with NodesDown(lab, ('hp2', 'hp3', 'hp1')):
        assert sorted(lab.failed_nodes) == ['hp1', 'hp2', 'hp3']
    assert lab.failed_nodes == ['hp3'] and lab.said == ['fail hp2', 'fail hp1', 'restore hp1', 'restore hp2']
    with pytest.raises(Exception, match=r"only the lab's own process can: run the checks in the lab's shell"):
        with NodesDown(object(), ('hp1',)):
            pass


def test_lab_6_s_checks_fail_the_nodes_that_serve_its_load_balancers():
    from testbed.fabric.hyperplane_plan import resources
    lab = catalog.find('06')
    start, solved = ({r.name: r.shard for r in resources(load(path))} for path in (lab.topology, lab.solution))
    assert start == {'web-nlb': ['hp2'], 'api-nlb': ['hp1']}
    assert solved == {'web-nlb': ['hp2', 'hp1'], 'api-nlb': ['hp1', 'hp3']}
    failed = {(c.to, c.failed) for c in checks.load(lab.checks, load(lab.topology)) if c.failed}
    assert failed == {('web-nlb', ('hp2',)), ('api-nlb', ('hp2',)), ('api-nlb', ('hp1',))}


def test_shell_completion_offers_the_lab_names(capsys):
    assert cli.main(['completion', 'bash']) == 0
    names = ' '.join(lab.name for lab in catalog.labs())
    assert f'compgen -W "$(echo {names})"' in capsys.readouterr().out


def test_what_of_a_topology_solution_a_running_lab_cannot_take():
    found = {lab.name: catalog.not_live(lab.topology, lab.solution) for lab in catalog.labs()
             if catalog.is_topology(lab.solution)}
    assert found['03-firewall'] == ['vpcs.shop.network_acls.db-acl.outbound']
    assert found['06-hyperplane'] == ['hyperplane.shard_size']          # its group's fix a running lab takes
    assert sorted(found['04-getting-out']) == ['vpcs.blue.endpoints.s3-ep.route_tables', 'vpcs.blue.nat_gateways',
                                               'vpcs.blue.route_tables.private.routes']


def test_a_group_the_running_lab_does_not_have_is_no_live_change(tmp_path):
    lab = catalog.find('03')
    text = pathlib.Path(lab.topology).read_text()
    added = tmp_path / 'mine.yaml'
    group = '    security_groups:\n'
    added.write_text(text.replace(group, group + '      ops:\n        inbound: []\n', 1))
    assert catalog.not_live(lab.topology, added) == ['vpcs.shop.security_groups.ops']
