"""AWS's default group (inbound from its own members) on real OVS: its rule is one conjunction per
host (the ENIs x the members' addresses as clauses, not their product), which must admit members
and refuse others after a member migrates and after a rule change.

    m-1 [default]  outsider [open]   on r1-h1
    m-2 [default]                    on r1-h2
    m-3 [default]                    on r1-h3
"""
import subprocess

import pytest

from controllers import pipeline as P
from testbed.lab import Lab
from testbed.observe import journey
from testbed.observe.flows import dump_flows

TOPOLOGY = """format: 1
name: groups
encapsulation: geneve
fabric:
  azs:
    use1-az1:
      racks:
        r1: {hosts: 3}
vpcs:
  blue:
    cidr: 10.0.0.0/16
    subnets:
      blue-a: {cidr: 10.0.1.0/24, az: use1-az1}
    security_groups:
      open: {}                                                  # no inbound, all outbound
    instances:
      m-1:      {subnet: blue-a, ip: 10.0.1.11, host: r1-h1}
      m-2:      {subnet: blue-a, ip: 10.0.1.12, host: r1-h2}
      m-3:      {subnet: blue-a, ip: 10.0.1.13, host: r1-h3}
      outsider: {subnet: blue-a, ip: 10.0.1.20, host: r1-h1, security_groups: [open]}
"""


NAMES = ('m-1', 'm-2', 'm-3', 'outsider')


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    path = tmp_path_factory.mktemp('groups') / 'groups.yaml'
    path.write_text(TOPOLOGY)
    with Lab(str(path)) as lab:
        servers = {n: lab.node(n).popen(['nc', '-lk', '80'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for n in NAMES}
        try:
            for n in NAMES:
                lab.wait_until(lambda n=n: ':80 ' in lab.node(n).cmd('ss -ltn'), what=f'{n} to listen on 80')
            yield lab
        finally:
            stop(servers.values())


def stop(procs):
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait()


def connects(lab, src, dst, port=80):
    return 'rc=0' in lab.node(src).cmd(f'nc -z -w 1 {lab.topology.instance(dst).ip} {port}; echo rc=$?')


def pings(lab, src, dst):
    return journey.ping(lab.node(src), lab.topology.instance(dst).ip, count=1)[0] == 1


def test_members_reach_members_through_one_conjunction_and_others_are_refused(lab):
    assert pings(lab, 'm-1', 'm-2') and connects(lab, 'm-1', 'm-2') and connects(lab, 'm-3', 'm-1')
    assert not pings(lab, 'outsider', 'm-2') and not connects(lab, 'outsider', 'm-1')     # same host too
    rules = dump_flows(lab.bridge('r1-h1'), P.INGRESS_SG_RULES)
    assert 'conjunction(' in rules and 'conj_id=' in rules
    assert sum('nw_src=10.0.1.1' in line for line in rules.splitlines()) == 3     # one per member, not per ENI


def test_after_a_member_migrates(lab):
    lab.migrate('m-2', 'r1-h1')
    assert connects(lab, 'm-1', 'm-2') and connects(lab, 'm-2', 'm-3') and pings(lab, 'm-3', 'm-2')
    assert not connects(lab, 'outsider', 'm-2') and not pings(lab, 'outsider', 'm-3')
    assert 'conj_id=' not in dump_flows(lab.bridge('r1-h2'), P.INGRESS_SG_RULES)   # no ENI of it left there


def test_after_a_rule_change(lab):
    lab.set_security_group('blue', 'default', inbound=[{'protocol': 'tcp', 'ports': 80, 'from': 'sg:default'}])
    assert connects(lab, 'm-1', 'm-3') and connects(lab, 'm-3', 'm-2')
    assert not pings(lab, 'm-1', 'm-3')                                     # icmp no more
    assert not connects(lab, 'outsider', 'm-3')
    lab.set_security_group('blue', 'default', inbound=[{'protocol': 'tcp', 'ports': 80, 'from': 'sg:default'},
                                                      {'protocol': 'tcp', 'ports': 80, 'from': 'sg:open'}])
    assert connects(lab, 'outsider', 'm-3') and connects(lab, 'm-1', 'm-2')
    assert not connects(lab, 'm-1', 'outsider')                             # open admits nobody
    assert lab.api.metrics()['ofp_errors'] == []                            # OVS took every flow-mod
