"""The expected reachability matrix, from the model alone: routes, security groups, network ACLs
(both ways: they are stateless), peerings; by instance name, never by bare address."""
import dataclasses
import json
import os

from testbed.commands import reachability as R
from testbed.commands.lab_commands import COMMANDS
from testbed.fabric.firewall_config import security_groups
from testbed.topology import load, loads

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEXT = """
format: 1
fabric: {azs: {use1-az1: {racks: {r1: {hosts: 2}}}}}
vpcs:
  v:
    cidr: 10.0.0.0/16
    subnets:
      a: {cidr: 10.0.1.0/24, az: use1-az1}
      b: {cidr: 10.0.2.0/24, az: use1-az1}
      c: {cidr: 10.0.3.0/24, az: use1-az1}
      d: {cidr: 10.0.4.0/24, az: use1-az1}
    security_groups:
      default:
        inbound:
          - {protocol: all, from: sg:default}
          - {protocol: icmp, from: 10.1.0.0/16}
      closed: {}
    instances:
      a-1: {subnet: a}
      a-2: {subnet: a}
      b-1: {subnet: b}
      c-1: {subnet: c}
      d-1: {subnet: d}
      shut: {subnet: a, security_groups: [closed]}
    network_acls:
      no-icmp-to-c:
        subnets: [b]
        inbound:
          - {rule: 100, protocol: all, from: 0.0.0.0/0, action: allow}
        outbound:
          - {rule: 100, protocol: icmp, to: 10.0.3.0/24, action: deny}
          - {rule: 200, protocol: all, to: 0.0.0.0/0, action: allow}
    route_tables:
      isolated:
        subnets: [c]
        routes:
          - {destination: 10.1.0.0/16, target: blackhole}
      local-only:
        subnets: [d]
        routes: []
  w:
    cidr: 10.1.0.0/16
    subnets:
      w-a: {cidr: 10.1.1.0/24, az: use1-az1}
    security_groups:
      default:
        inbound:
          - {protocol: all, from: 10.0.0.0/16}
    instances:
      w-1: {subnet: w-a}
peering:
  - {name: v-w, vpcs: [v, w]}
"""


def matrix(topo, groups=None):
    return {(p.src.name, p.dst.name): p.expected for ps in R.pairs(topo, groups=groups).values() for p in ps}


def test_each_stage_that_drops_is_named():
    m = matrix(loads(TEXT, 'reach.yaml'))
    assert m['a-1', 'a-2'] is None and m['a-1', 'w-1'] is None and m['w-1', 'a-1'] is None
    assert m['b-1', 'c-1'] == 'network-acl out'
    assert m['c-1', 'b-1'] == 'network-acl out (reply)'      # the reply leaves b by the same ACL
    assert m['c-1', 'w-1'] == 'blackhole' and m['w-1', 'c-1'] == 'blackhole (reply)'
    assert m['d-1', 'w-1'] == 'no-route'
    assert m['a-1', 'shut'] == 'security-group in'
    assert m['shut', 'a-1'] == 'security-group in'          # closed: {} still sends; a-1's group refuses


def test_the_running_lab_s_groups_replace_the_file_s():
    topo = loads(TEXT, 'reach.yaml')
    groups = security_groups(topo.vpcs['v'])
    groups['closed'] = dict(inbound=[dict(protocol=1, ports=None, peer='10.0.1.0/24')],
                            outbound=[dict(protocol=None, ports=None, peer='0.0.0.0/0')])
    m = matrix(topo, {'v': groups})
    assert m['a-1', 'shut'] is None and m['b-1', 'shut'] == 'security-group in'


def test_overlapping_vpcs_are_never_paired_by_address():
    m = matrix(load(os.path.join(ROOT, 'topologies', 'default.yaml')))
    assert ('web-1', 'red-1') not in m and ('red-1', 'web-2') not in m and ('red-1', 'green-1') not in m
    assert m['red-1', 'red-2'] is None and m['web-1', 'green-1'] is None and m['green-1', 'app-1'] is None


def test_firewall_topology_expectations():
    m = matrix(load(os.path.join(ROOT, 'topologies', 'firewall.yaml')))
    assert m['client-1', 'web-1'] is None and m['web-1', 'db-1'] is None      # icmp from 10.0.1.0/24
    assert m['db-1', 'web-1'] == 'security-group in' and m['web-1', 'client-1'] == 'security-group in'


def test_report_marks_mismatches():
    topo = loads(TEXT, 'reach.yaml')
    found = R.pairs(topo, ['v'])
    for p in found['v']:
        p.observed = p.expected is None
    bad = next(p for p in found['v'] if (p.src.name, p.dst.name) == ('a-1', 'a-2'))
    bad.observed = False
    text = R.report(topo, found).render()
    assert '1 not as expected' in text and '!! no reply, want ok' in text
    assert '!! a-1 -> a-2 (10.0.1.5): no reply, expected a reply' in text
    assert 'VPC w' not in text
    doc = json.loads(R.report(topo, found).render('json'))
    assert doc['Mismatches'] == 1 and doc['Vpcs'][0]['Pairs'][0]['Source'] == 'a-1'


class FakeApi:
    def __init__(self, topo):
        self.topo = topo

    def security_group(self, vpc, group):
        return security_groups(self.topo.vpcs[vpc])[group]


class FakeLab:
    def __init__(self):
        self.topology = load(os.path.join(ROOT, 'topologies', 'default.yaml'))
        self.api = FakeApi(self.topology)


def test_the_command_expected_only_and_its_csv():
    command = COMMANDS['reachability']
    text = command.run(FakeLab(), command.parse('--expected --vpc red'))
    assert 'VPC red' in text and 'VPC blue' not in text and 'expected only' in text
    rows = command.run(FakeLab(), command.parse('--expected -o csv')).splitlines()
    assert rows[0] == 'VPC,SOURCE,DESTINATION,IP,EXPECTED,OBSERVED,MATCH'
    assert 'red,red-1,red-2,10.0.1.11,reachable,,True' in rows


def test_a_route_to_an_edge_gateway_leaves_the_vpc():
    topo = load(os.path.join(os.path.dirname(__file__), '..', '..', 'topologies', 'gateways.yaml'))
    blue = topo.vpcs['blue']
    web, app = blue.instances['web-1'], blue.instances['app-1']
    site_address = dataclasses.replace(app, ip='192.168.1.10')
    assert R.route(topo, web, app) is None                          # local
    assert R.route(topo, app, site_address) == 'leaves-vpc'         # the private subnet's vgw route
    assert R.SHORT['leaves-vpc'] == 'out'
