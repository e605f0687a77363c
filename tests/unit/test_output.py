"""-o table|json|csv on the views, without a lab: a fake API answers as the controller does; the
JSON has the AWS CLI's shapes, the tables no Python literal, and the CSV parses back."""
import csv
import io
import json
import os

import pytest

from testbed.commands import cli, info
from testbed.commands.lab_commands import COMMANDS
from testbed.commands.output import Report, Table, cell
from testbed.observe.flows import parse_flows
from testbed.topology import load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENTRY = dict(vni=100, ip='10.0.1.10', host='r1-h1', mac='0e:32:f3:f7:1b:13', eni='eni-b711f686993ff0100',
             instance='web-1', version=1)
RULES = dict(inbound=[dict(protocol=6, ports=[80, 80], peer='0.0.0.0/0', number=None, action='allow'),
                      dict(protocol=6, ports=[22, 22], peer='sg:admin', number=None, action='allow'),
                      dict(protocol=1, ports=None, peer='10.0.1.0/24', number=None, action='allow')],
             outbound=[dict(protocol=None, ports=None, peer='0.0.0.0/0', number=None, action='allow')])


class FakeApi:
    def mappings(self):
        return [ENTRY]

    def cache(self, host):
        return dict(host=host, underlay_ip='100.127.0.1', local=['web-1'], cache=[ENTRY],
                    counters=dict(packet_in=3, cache_misses=0, cache_hits=2, arp_replies=1),
                    drops={'spoofed-source': 3})

    def metrics(self):
        host = dict(counters=dict(packet_in=3, cache_misses=1), drops={'spoofed-source': 3}, cache_entries=4)
        return dict(mapping=dict(lookups=2, pushes=9), drops={'spoofed-source': 3}, alerts=1, ofp_errors=[],
                    hosts={'r1-h1': host, 'r1-h2': dict(host, drops={})})

    def alerts(self):
        return [dict(host='r1-h1', reason='spoofed-source', count=3, detail='web-1 sent from 10.0.1.4')]

    def security_group(self, vpc, group):
        return RULES


class FakeLab:
    api = FakeApi()
    flow_log_path = '/nonexistent/flow-logs.txt'

    def __init__(self):
        self.topology = load(os.path.join(ROOT, 'topologies', 'firewall.yaml'))

    def datapath_drops(self):
        return 0


def run(line):
    name, _, rest = line.partition(' ')
    return COMMANDS[name].run(FakeLab(), COMMANDS[name].parse(rest))


VIEWS = ['mappings', 'cache r1-h1', 'counters', 'alerts', 'placement', 'security-group blue web']


@pytest.mark.parametrize('view', VIEWS)
def test_every_view_is_a_table_without_python_literals(view):
    text = run(view)
    assert '{' not in text and "'" not in text and '[' not in text, text
    assert '----' in text


@pytest.mark.parametrize('view', VIEWS)
def test_every_view_is_json_and_csv(view):
    doc = json.loads(run(f'{view} -o json'))
    assert isinstance(doc, dict) and doc
    rows = list(csv.reader(io.StringIO(run(f'{view} -o csv'))))
    assert len(rows) >= 2 and all(rows[0])


def test_counters_table_reads_per_host_and_by_reason():
    text = run('counters')
    assert 'PACKET-IN' in text and 'CACHE-MISSES' in text
    row = next(line for line in text.splitlines() if line.startswith('spoofed-source'))
    assert row.split() == ['spoofed-source', '3', '3', '0']


def test_placement_json_is_describe_instances():
    doc = json.loads(run('placement -o json'))
    inst = doc['Reservations'][0]['Instances'][0]
    assert {'InstanceId', 'PrivateIpAddress', 'SubnetId', 'VpcId', 'NetworkInterfaces', 'Placement'} <= set(inst)
    assert inst['InstanceId'].startswith('i-') and inst['Placement']['HostId'] == 'r1-h1'
    assert inst['NetworkInterfaces'][0]['NetworkInterfaceId'].startswith('eni-')
    assert inst['Tags'] == [dict(Key='Name', Value='web-1')]
    stopped = [i for i in doc['Reservations'][0]['Instances'] if i['State']['Name'] == 'stopped']
    assert len(stopped) == 4            # the fake mapping service knows only web-1


def test_security_group_json_is_describe_security_groups():
    group = json.loads(run('security-group blue web -o json'))['SecurityGroups'][0]
    assert group['GroupName'] == 'web' and group['GroupId'].startswith('sg-') and group['VpcId'].startswith('vpc-')
    http, ssh, icmp = group['IpPermissions']
    assert http == dict(IpProtocol='tcp', FromPort=80, ToPort=80, IpRanges=[dict(CidrIp='0.0.0.0/0')],
                        UserIdGroupPairs=[])
    assert ssh['UserIdGroupPairs'][0]['GroupName'] == 'admin' and ssh['UserIdGroupPairs'][0]['GroupId'] \
        .startswith('sg-')
    assert icmp['IpProtocol'] == 'icmp' and group['IpPermissionsEgress'][0]['IpProtocol'] == '-1'


def test_flowlogs_json_names_the_flow_log_and_its_records(tmp_path):
    from controllers.router.flow_log import HEADER
    path = tmp_path / 'logs.txt'
    path.write_text(f'{HEADER}\n2 123456789012 eni-0a 10.0.1.10 10.0.1.11 40000 80 6 3 180 100 160 ACCEPT OK\n')
    doc = json.loads(run(f'flowlogs --file {path} -o json'))
    assert doc['Records'][0]['interface-id'] == 'eni-0a' and doc['Records'][0]['dstport'] == 80
    assert run(f'flowlogs --file {path}').splitlines()[0] == HEADER           # text: what --file reads
    assert 'eni-0a' in run(f'flowlogs --file {path} -o table')


def test_cells_and_sections():
    assert cell({'a': 1, 'b': [2, 3]}) == 'a=1, b=2, 3' and cell(None) == '-'
    report = Report([Table(('A', 'B'), [(1, 2)], 'one'), Table(('C',), [], 'two', empty='(nothing)')],
                    dict(x=1), ['said first'])
    assert report.render().splitlines()[0] == 'said first' and '(nothing)' in report.render()
    assert report.render('csv').splitlines() == ['# one', 'A,B', '1,2', '', '# two', 'C']


def test_parse_flows():
    text = (' cookie=0x10, duration=5.1s, table=CHECK, n_packets=3, n_bytes=294, priority=100,tun_src=100.127.0.1,'
            'ip,nw_src=10.0.1.10 actions=goto_table:DESTINATION\n cookie=0x0, duration=5s, table=0, n_packets=0, '
            'n_bytes=0, priority=0 actions=drop\n')
    first, second = parse_flows(text)
    assert first == dict(table='CHECK', priority=100, n_packets=3, n_bytes=294, cookie='0x10',
                         match='tun_src=100.127.0.1,ip,nw_src=10.0.1.10', actions='goto_table:DESTINATION')
    assert second['match'] == '' and second['actions'] == 'drop'


def test_version_names_each_component(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(['--version'])
    assert done.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ['vpclab', 'Open', 'os-ken', 'Mininet']
    assert dict(info.versions())['os-ken'][0].isdigit()


def test_completion_is_generated_from_the_grammar(capsys):
    assert cli.main(['completion', 'bash']) == 0
    script = capsys.readouterr().out
    for command in COMMANDS:
        assert command in script
    assert 'complete' in script and '--output' in script


def test_validate_outputs(capsys):
    path = os.path.join(ROOT, 'topologies', 'default.yaml')
    assert cli.main(['validate', path, '--placement', '-o', 'json']) == 0
    doc = json.loads(capsys.readouterr().out)['Topologies'][0]
    assert doc['Name'] == 'default' and sum(len(r['Instances']) for r in doc['Reservations']) == 6
    assert cli.main(['validate', path, '--placement', '-o', 'csv']) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ['FILE', 'INSTANCE', 'VPC', 'SUBNET', 'AZ', 'IP', 'HOST'] and len(rows) == 7
    assert cli.main(['validate', path, '--placement']) == 0
    assert 'web-1' in capsys.readouterr().out


def test_validate_counts_in_the_singular_where_there_is_one(capsys):
    assert cli.main(['validate', os.path.join(ROOT, 'topologies', 'services.yaml')]) == 0
    assert '4 instances on 3 physical hosts (1 AZ, 2 racks, 1 spine)' in capsys.readouterr().out
