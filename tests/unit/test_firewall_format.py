"""The firewall and routing keys of the topology format: defaults and one-line errors."""
import pytest

from testbed.topology import TopologyError, loads
from testbed.topology.model import ALL_TRAFFIC, Route, Rule

FILE = 'fw.yaml'
BASE = """\
format: 1
fabric: {azs: {use1-az1: {racks: {r1: {hosts: 2}}}}}
vpcs:
  blue:
    cidr: 10.0.0.0/16
    subnets:
      blue-a: {cidr: 10.0.1.0/24, az: use1-az1}
      blue-b: {cidr: 10.0.2.0/24, az: use1-az1}
    security_groups:
      web:
        inbound:
          - {protocol: tcp, ports: 80, from: 0.0.0.0/0}
          - {protocol: tcp, ports: 22-23, from: sg:admin}
          - {protocol: icmp, from: 10.0.0.0/16}
      admin: {}
    instances:
      web-1: {subnet: blue-a, security_groups: [web]}
      db-1: {subnet: blue-b}
    network_acls:
      strict:
        subnets: [blue-a]
        inbound:
          - {rule: 200, protocol: all, from: 10.9.0.0/16, action: deny}
          - {rule: 100, protocol: tcp, ports: 80, from: 0.0.0.0/0, action: allow}
        outbound:
          - {rule: 100, protocol: all, to: 0.0.0.0/0, action: allow}
    route_tables:
      public:
        subnets: [blue-a]
        routes:
          - {destination: 0.0.0.0/0, target: igw}
          - {destination: 10.1.0.0/16, target: pcx:blue-green}
    flow_logs: {interval_s: 5}
    internet_gateway: true
  green:
    cidr: 10.1.0.0/16
    subnets:
      green-a: {cidr: 10.1.1.0/24, az: use1-az1}
peering:
  - {name: blue-green, vpcs: [blue, green]}
"""


def edit(old, new, text=BASE):
    assert old in text, old
    return text.replace(old, new, 1)


def expect(text, snippet, key, message):
    with pytest.raises(TopologyError) as info:
        loads(text, FILE)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if snippet in t)
    assert str(info.value) == f'{FILE}:{line}: {key}: {message}'


def test_the_format_example_loads_with_aws_defaults():
    blue = loads(BASE, FILE).vpcs['blue']
    web, admin, default = (blue.security_groups[g] for g in ('web', 'admin', 'default'))
    assert web.inbound[1] == Rule(6, (22, 23), 'sg:admin')
    assert web.outbound == (ALL_TRAFFIC,)                      # outbound left out: all traffic
    assert (admin.inbound, admin.outbound) == ((), (ALL_TRAFFIC,))      # an empty group
    assert default.inbound == (Rule(None, None, 'sg:default'),)        # the VPC's default group
    assert loads(BASE, FILE).instance('db-1').security_groups == ('default',)
    acl = blue.network_acl_of('blue-a')
    assert [r.number for r in acl.inbound] == [100, 200]       # evaluated in rule order
    assert blue.network_acl_of('blue-b') is None               # the default ACL
    assert blue.route_table_of('blue-a').routes[0] == Route('10.0.0.0/16', 'local')
    main = blue.route_table_of('blue-b')
    assert (main.name, main.routes) == ('main', (Route('10.0.0.0/16', 'local'),
                                                 Route('10.1.0.0/16', 'pcx:blue-green')))
    assert blue.flow_log_interval_s == 5 and loads(BASE, FILE).vpcs['green'].flow_log_interval_s is None


@pytest.mark.parametrize('old,new,snippet,key,message', [
    ('ports: 22-23', 'ports: 23-22', 'ports: 23-22', 'vpcs.blue.security_groups.web.inbound[1].ports',
     'the range 23-22 runs backwards; write the lower port first, like 22-23'),
    ('ports: 80, from', 'ports: http, from', 'ports: http', 'vpcs.blue.security_groups.web.inbound[0].ports',
     "'http' is not a port or port range; write it like 80 or 1024-65535"),
    ('{protocol: icmp, from', '{protocol: icmp, ports: 8, from', 'protocol: icmp, ports: 8',
     'vpcs.blue.security_groups.web.inbound[2].ports',
     'ports apply only to tcp and udp; remove it (this protocol has no ports, so the rule covers all of it)'),
    ('protocol: icmp', 'protocol: gre', 'protocol: gre', 'vpcs.blue.security_groups.web.inbound[2].protocol',
     "'gre' is not a protocol (or a protocol number from 0 to 255); use one of: all, icmp, tcp, udp"),
    ('from: sg:admin', 'from: sg:admins', 'sg:admins', 'vpcs.blue.security_groups.web.inbound[1].from',
     "sg:admins is not a security group of vpc blue; did you mean 'admin'? groups are: web, admin, default"),
    ('from: 10.0.0.0/16}', 'from: 10.0.0.1/16}', '10.0.0.1/16', 'vpcs.blue.security_groups.web.inbound[2].from',
     '10.0.0.1/16: host bits set; did you mean 10.0.0.0/16'),
    ('{protocol: icmp, from: 10.0.0.0/16}', '{protocol: icmp}', '{protocol: icmp}',
     'vpcs.blue.security_groups.web.inbound[2]', "'from' is missing; add it, for example from: 10.0.0.0/16"),
    ('security_groups: [web]', 'security_groups: [web, web]', '[web, web]',
     'vpcs.blue.instances.web-1.security_groups[1]', "group 'web' is listed twice; list each group once"),
    ('security_groups: [web]', 'security_groups: [wbe]', '[wbe]', 'vpcs.blue.instances.web-1.security_groups[0]',
     "'wbe' is not a security group of vpc blue; did you mean 'web'? use one of: web, admin, default"),
    ('{rule: 200, protocol: all, from: 10.9.0.0/16', '{rule: 100, protocol: all, from: 10.9.0.0/16',
     'rule: 100, protocol: tcp', 'vpcs.blue.network_acls.strict.inbound[1]',
     'rule 100 is already used on line 23; give each rule of a direction its own number'),
    ('action: deny', 'action: drop', 'action: drop', 'vpcs.blue.network_acls.strict.inbound[0].action',
     "'drop' is not an action; use one of: allow, deny"),
    ('{rule: 200, protocol: all, from: 10.9.0.0/16', '{rule: 200, protocol: all, from: sg:web', 'from: sg:web',
     'vpcs.blue.network_acls.strict.inbound[0].from', 'a network ACL matches addresses only; write a CIDR block '
     'like 10.0.0.0/16'),
    ('rule: 200', 'rule: 40000', 'rule: 40000', 'vpcs.blue.network_acls.strict.inbound[0].rule',
     '40000 is out of range; use a whole number from 1 to 32766'),
    ('target: igw', 'target: internet', 'target: internet', 'vpcs.blue.route_tables.public.routes[0].target',
     "'internet' is not a route target; use igw, vgw, blackhole, pcx:<peering>, nat:<name>, dx:<name> or "
     "vpce:<name> (the local route is always there)"),
    ('target: pcx:blue-green', 'target: pcx:blue-red', 'pcx:blue-red', 'vpcs.blue.route_tables.public.routes[1].target',
     "pcx:blue-red is not a peering of this file; did you mean 'blue-green'? use one of: blue-green"),
    ('destination: 0.0.0.0/0', 'destination: 10.0.0.0/16', 'destination: 10.0.0.0/16',
     'vpcs.blue.route_tables.public.routes[0].destination',
     '10.0.0.0/16 is already routed by the local route of the VPC; remove this route'),
    ('interval_s: 5', 'interval_s: 0', 'interval_s: 0', 'vpcs.blue.flow_logs.interval_s',
     '0 is out of range; use a whole number from 1 to 600'),
])
def test_errors_name_the_line_and_key_and_say_what_is_right(old, new, snippet, key, message):
    expect(edit(old, new), snippet, key, message)


def test_a_subnet_has_one_acl_and_one_route_table():
    text = edit('    route_tables:\n', '      other:\n        subnets: [blue-a]   # again\n    route_tables:\n')
    expect(text, '# again', 'vpcs.blue.network_acls.other.subnets[0]',
           'subnet blue-a is already in network ACL strict; a subnet has one network ACL')


def test_a_pcx_route_must_use_a_peering_of_its_vpc():
    text = edit('    cidr: 10.1.0.0/16\n', '    cidr: 10.1.0.0/16\n    route_tables:\n      back:\n'
                '        subnets: [green-a]\n        routes:\n'
                '          - {destination: 10.5.0.0/16, target: pcx:blue-green}\n')
    text = edit('peering:\n  - {name: blue-green, vpcs: [blue, green]}\n',
                'peering:\n  - {name: blue-green, vpcs: [blue, green]}\n  - {name: x, vpcs: [green, red]}\n', text)
    text = text.replace('target: pcx:blue-green}\n', 'target: pcx:x}\n', 1)   # blue routes to x: not blue's
    text = edit('peering:', '  red:\n    cidr: 10.7.0.0/16\npeering:', text)
    expect(text, 'target: pcx:x', 'vpcs.blue.route_tables.public.routes[1].target',
           'peering x joins green and red, not vpc blue; route to a peering of blue')
