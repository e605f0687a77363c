"""Instance metadata in a real lab (topologies/services.yaml, docs/services.md): curl in the
instances asks 169.254.169.254, answered on their own host. IMDSv1 and IMDSv2, `http_tokens:
required`, the hop limit against a container behind an instance, paths that stay right after a
migration and a security-group change; none of it on the NIC cables or in the flow logs."""
import subprocess
import sys

import pytest
from conftest import topology
from services_probe import MD, behind, curl, nic_captures, service_packets, services_meters, token

from controllers import pipeline as P
from testbed.lab import Lab
from testbed.observe import journey
from testbed.services import servers


@pytest.fixture(scope='module')
def lab():
    with Lab(topology('services.yaml')) as lab:
        yield lab


def _state(lab, name):
    inst = lab.topology.instance(name)
    return dict(id=inst.id, ip=inst.ip, mac=inst.mac)


def test_imdsv2_token_then_gets(lab):
    web1 = lab.node('web-1')
    status, tok = token(web1, ttl=120)
    assert status == '200' and len(tok) > 20
    want = _state(lab, 'web-1')
    assert curl(web1, f'{MD}/meta-data/instance-id', f'X-aws-ec2-metadata-token: {tok}') == ('200', want['id'])
    assert curl(web1, f'{MD}/meta-data/local-ipv4', f'X-aws-ec2-metadata-token: {tok}') == ('200', want['ip'])
    assert curl(web1, f'{MD}/meta-data/mac', f'X-aws-ec2-metadata-token: {tok}') == ('200', want['mac'])
    assert curl(web1, f'{MD}/meta-data/instance-id', 'X-aws-ec2-metadata-token: forged')[0] == '401'


def test_tokens_required_refuses_imdsv1_with_401_optional_answers_it(lab):
    assert curl(lab.node('web-1'), f'{MD}/meta-data/instance-id')[0] == '401'           # http_tokens: required
    assert curl(lab.node('red-1'), f'{MD}/meta-data/instance-id') == ('200', _state(lab, 'red-1')['id'])


def test_overlapping_instances_on_one_host_get_their_own_metadata(lab):
    """web-1 and red-1: same host, same address; each is answered its own instance id."""
    _, tok = token(lab.node('red-1'))
    red = curl(lab.node('red-1'), f'{MD}/meta-data/instance-id', f'X-aws-ec2-metadata-token: {tok}')
    _, tok = token(lab.node('web-1'))
    web = curl(lab.node('web-1'), f'{MD}/meta-data/instance-id', f'X-aws-ec2-metadata-token: {tok}')
    assert red == ('200', _state(lab, 'red-1')['id']) and web == ('200', _state(lab, 'web-1')['id'])


def test_a_hop_limit_of_1_keeps_the_token_from_a_container_behind_the_instance(lab):
    web2 = lab.node('web-2')
    with behind(web2) as container:
        ask = (f"curl -s -m 2 -o /dev/null -w '%{{http_code}}' -X PUT "
               f"-H 'X-aws-ec2-metadata-token-ttl-seconds: 60' {MD}/api/token")
        assert container(ask) == '000'                    # the response died at the instance (TTL 1)
        assert token(web2)[0] == '200'
        # the request really was forwarded and answered: IMDSv1 GETs keep the default TTL
        assert container(f"curl -s -m 2 {MD}/meta-data/local-ipv4") == '10.0.1.11'


def test_metadata_is_current_after_a_migration(lab):
    web2 = lab.node('web-2')
    status, tok = token(web2, ttl=300)
    assert status == '200'
    lab.migrate('web-2', 'r2-h1')
    assert lab.host_of('web-2') == 'r2-h1'
    assert lab.services.lease('web-2')['ip'] == '10.0.1.11'          # its new cable took the address again
    assert curl(web2, f'{MD}/meta-data/local-ipv4', f'X-aws-ec2-metadata-token: {tok}') == ('200', '10.0.1.11')
    assert curl(web2, f'{MD}/meta-data/instance-id') == ('200', _state(lab, 'web-2')['id'])
    assert lab.services.counters()['r2-h1']['metadata']['requests'] >= 2      # answered on its new host
    # its services meter moved with it, and the switches took every change
    meter = P.eni_services_meter(next(e['ident'] for e in lab.api.mappings() if e['instance'] == 'web-2'))
    assert meter in services_meters(lab, 'r2-h1') and meter not in services_meters(lab, 'r1-h2')
    assert lab.api.metrics()['ofp_errors'] == []


def test_security_groups_are_current_after_a_change(lab):
    applied = lab.services.counters()['r1-h1']['updates']['applied']
    lab.set_security_group('blue', 'default', inbound=[{'protocol': 'all', 'from': 'sg:default'},
                                                       {'protocol': 'tcp', 'ports': 22, 'from': '10.0.0.0/16'}])
    assert lab.services.counters()['r1-h1']['updates']['applied'] > applied
    group_id = lab.topology.vpcs['blue'].security_groups['default'].id
    _, tok = token(lab.node('web-1'))
    hdr = f'X-aws-ec2-metadata-token: {tok}'
    assert curl(lab.node('web-1'), f'{MD}/meta-data/security-groups', hdr) == ('200', 'default')
    mac = _state(lab, 'web-1')['mac']
    assert curl(lab.node('web-1'), f'{MD}/meta-data/network/interfaces/macs/{mac}/security-group-ids', hdr) == \
        ('200', group_id)


def test_metadata_never_leaves_the_host_and_is_not_flow_logged(lab):
    before = lab.services.answers()['metadata']
    with nic_captures(lab) as caps:
        for name in ('web-1', 'web-2', 'red-1', 'app-1'):       # app-1's group allows nothing
            status, tok = token(lab.node(name))
            assert status == '200', name
            assert curl(lab.node(name), f'{MD}/meta-data/local-ipv4', f'X-aws-ec2-metadata-token: {tok}')[0] == '200'
    assert [service_packets(c.packets) for c in caps] == [[]] * len(caps)
    after = lab.services.answers()['metadata']
    assert after['tokens'] >= before.get('tokens', 0) + 4 and after['v2'] >= before.get('v2', 0) + 4
    assert after.get('v1_refused', 0) >= 1
    assert journey.ping(lab.node('web-1'), '10.0.1.11', count=1)[0] == 1      # this one is logged
    lab.wait_until(lambda: _records(lab), timeout=15, what='flow-log records')
    assert not [r for r in _records(lab) if METADATA in (r['srcaddr'], r['dstaddr'])
                or str(r['dstport']) == '80'], _records(lab)


METADATA = '169.254.169.254'


def _records(lab):
    try:
        return lab.flow_logs()
    except OSError:
        return []


HOLD = '''import socket, time
held = [socket.create_connection(("169.254.169.254", 80), timeout=2) for _ in range(64)]
print("held", flush=True)
time.sleep(4)
'''


def test_a_tenant_holding_connections_open_does_not_keep_its_neighbour_from_metadata(lab):
    """red-1 (bob) opens 64 idle connections (all the server had, at first) on web-1's host: web-1
    (alice) still gets its token, and red-1's connections beyond its own 8 are refused."""
    assert lab.host_of('red-1') == lab.host_of('web-1') == 'r1-h1'
    before = lab.services.counters()['r1-h1']['servers'].get('connections_refused', 0)
    holder = lab.node('red-1').popen([sys.executable, '-c', HOLD], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        assert token(lab.node('web-1'))[0] == '200'
        refused = lab.services.counters()['r1-h1']['servers'].get('connections_refused', 0) - before
    finally:
        holder.kill()
        holder.wait()
    assert refused == 64 - servers.MAX_PER_ENI
