"""Security groups (stateful, conntrack), flow tracking (docs/journey.md), network ACLs, route tables,
flow logs: real traffic through topologies/firewall.yaml.

    web-1 [web]  admin-1 [admin]   on r1-h1      blue-a, default ACL
    client-1 [default]             on r1-h2      blue-a
    db-1 [web]                     on r1-h3      blue-b, ACL strict: denies tcp 80 from blue-a
    edge-1 [admin]                 on r1-h3      blue-c, routes to igw, vgw, a blackhole
"""
import json
import subprocess
import sys

import pytest
from conftest import topology

from controllers import pipeline as P
from testbed.errors import LabError
from testbed.lab import Lab
from testbed.observe import journey
from testbed.observe.capture import Capture
from testbed.observe.flows import dump_flows

MARK = b'vpclab-crafted'
UDP_SEND = ("import socket,sys; s=socket.socket(2,2); s.bind(('',int(sys.argv[1])))\n"
            "for _ in range(int(sys.argv[4])): s.sendto(b'x'*int(sys.argv[5]),(sys.argv[2],int(sys.argv[3])))")
ECHO_SERVER = ("import socket,threading; s=socket.socket(); s.setsockopt(1,2,1); s.bind(('',8080)); s.listen(8)\n"
               "def echo(c):\n    while True:\n        d=c.recv(100)\n        if not d: break\n        c.sendall(d)\n"
               "while True: threading.Thread(target=echo,args=(s.accept()[0],),daemon=True).start()")
ECHO_CLIENT = ("import socket,sys; c=socket.create_connection((sys.argv[1],8080),timeout=3)\n"
               "for line in sys.stdin:\n    c.sendall(line.encode()); print(c.recv(100).decode().strip(), flush=True)")


@pytest.fixture(scope='module')
def lab():
    with Lab(topology('firewall.yaml')) as lab:
        servers = [listen(lab, 'web-1', ['python3', '-m', 'http.server', '80'], 80),
                   listen(lab, 'web-1', ['nc', '-lk', '22'], 22),
                   listen(lab, 'admin-1', ['nc', '-lk', '22'], 22),
                   listen(lab, 'client-1', ['nc', '-lk', '80'], 80),
                   listen(lab, 'db-1', ['python3', '-m', 'http.server', '80'], 80),
                   listen(lab, 'admin-1', [sys.executable, '-c', ECHO_SERVER], 8080)]
        try:
            yield lab
        finally:
            for proc in servers:
                proc.terminate()
                proc.wait()


def listen(lab, name, cmd, port):
    node = lab.node(name)
    proc = node.popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lab.wait_until(lambda: f':{port} ' in node.cmd('ss -ltn'), what=f'{name} to listen on {port}')
    return proc


def ip(lab, name):
    return lab.topology.instance(name).ip


def connects(lab, src, dst, port):
    out = lab.node(src).cmd(f'nc -z -w 1 {ip(lab, dst)} {port}; echo rc=$?')
    return 'rc=0' in out


def drops(lab, reason):
    """Drops for `reason` on all hosts together."""
    return sum(lab.api.cache(h)['drops'].get(reason, 0) for h in lab.topology.hosts)


def craft(lab, src, kind, *args, dst=None, count=1):
    s = lab.topology.instance(src)
    d = lab.topology.instance(dst) if dst else None
    cmd = (f'{sys.executable} -m testbed.observe.craft {kind} --iface eth0 --count {count} --src-mac {s.mac} '
           f'--src-ip {s.ip} --dst-mac {d.mac} --dst-ip {d.ip} {" ".join(str(a) for a in args)}')
    return lab.node(src).cmd(cmd)


def send_udp(lab, src, dst, sport, dport, count, size):
    proc = lab.node(src).popen([sys.executable, '-c', UDP_SEND, str(sport), ip(lab, dst), str(dport),
                                str(count), str(size)])
    assert proc.wait() == 0


# ---- security groups ------------------------------------------------------------------------

def test_allowed_and_denied_ports_both_ways(lab):
    before = drops(lab, 'security-group')
    web = ip(lab, 'web-1')
    assert 'Directory listing' in lab.node('client-1').cmd(f'curl -s -m 3 http://{web}/')  # tcp 80 anywhere
    assert not connects(lab, 'client-1', 'web-1', 22)       # 22 only from sg:admin
    assert connects(lab, 'admin-1', 'web-1', 22)            # ... and admin-1 is in admin (same host)
    assert not connects(lab, 'web-1', 'admin-1', 22)        # admin: an empty group, no inbound
    assert not connects(lab, 'web-1', 'client-1', 80)       # default group: inbound from members only
    assert journey.ping(lab.node('client-1'), web, count=2)[0] == 2       # icmp from blue-a
    assert journey.ping(lab.node('web-1'), ip(lab, 'client-1'), count=2)[0] == 0
    server = lab.node('web-1').popen(['iperf3', '-s', '-1', '-p', '5201'], stdout=subprocess.DEVNULL)
    try:
        lab.wait_until(lambda: ':5201 ' in lab.node('web-1').cmd('ss -ltn'), what='iperf3 to listen')
        out = json.loads(lab.node('client-1').cmd(f'iperf3 -c {web} -p 5201 -t 1 -J'))
        assert out['end']['sum_received']['bytes'] > 1e6
    finally:
        server.terminate()
        server.wait()
    lab.wait_until(lambda: drops(lab, 'security-group') >= before + 5, what='security-group drops')


def test_group_reference_follows_a_migrating_member(lab):
    assert connects(lab, 'admin-1', 'web-1', 22)
    lab.migrate('admin-1', 'r1-h2')
    assert connects(lab, 'admin-1', 'web-1', 22)            # now across hosts, still a member
    assert not connects(lab, 'client-1', 'web-1', 22)
    assert not connects(lab, 'web-1', 'admin-1', 22)        # its own (empty) group moved with it


def test_rule_change_on_a_running_lab_keeps_tracked_connections(lab):
    assert not connects(lab, 'web-1', 'admin-1', 8080)
    lab.set_security_group('blue', 'admin', inbound=[{'protocol': 'tcp', 'ports': 8080, 'from': '10.0.1.0/24'}])
    client = lab.node('web-1').popen([sys.executable, '-c', ECHO_CLIENT, ip(lab, 'admin-1')],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        client.stdin.write('one\n')
        client.stdin.flush()
        assert client.stdout.readline().strip() == 'one'
        lab.set_security_group('blue', 'admin', inbound=[])
        assert lab.security_group('blue', 'admin')['inbound'] == []
        client.stdin.write('two\n')                          # the tracked connection goes on
        client.stdin.flush()
        assert client.stdout.readline().strip() == 'two'
        assert not connects(lab, 'web-1', 'admin-1', 8080)  # a new one does not
    finally:
        client.terminate()
        client.wait()


# ---- flow tracking --------------------------------------------------------------------------

def test_out_of_window_tcp_segment_is_dropped_and_in_window_one_passes(lab):
    web = lab.topology.instance('web-1')
    opener = (f"import socket,sys; s=socket.socket(); s.bind(('',41000)); s.connect(('{web.ip}',80)); "
              "sys.stdin.read()")
    with Capture('eth0', 'tcp port 41000', node=lab.node('client-1')) as handshake:
        conn = lab.node('client-1').popen([sys.executable, '-c', opener], stdin=subprocess.PIPE)
        lab.wait_until(lambda: 'ESTAB' in lab.node('client-1').cmd('ss -tn sport = :41000'),
                       what='the connection to be established')
    try:
        syn = next(p for p in handshake.packets if p['TCP'].flags == 'S')
        synack = next(p for p in handshake.packets if p['TCP'].flags == 'SA')
        seq, ack = syn['TCP'].seq + 1, synack['TCP'].seq + 1
        before = drops(lab, 'invalid-packet')
        with Capture('eth0', 'tcp port 41000', node=lab.node('web-1')) as server_side:
            craft(lab, 'client-1', 'tcp', '--sport 41000 --dport 80 --seq', (seq + 2 ** 30) % 2 ** 32, '--ack', ack,
                  dst='web-1')
            lab.wait_until(lambda: drops(lab, 'invalid-packet') > before, what='an invalid-packet drop')
            craft(lab, 'client-1', 'tcp', '--sport 41000 --dport 80 --seq', seq, '--ack', ack, dst='web-1')
        crafted = [p for p in server_side.packets if MARK in bytes(p)]
        assert [p['TCP'].seq for p in crafted] == [seq]     # only the in-window segment arrived
    finally:
        conn.terminate()
        conn.wait()


def test_bogus_fragments_are_dropped_and_real_ones_reassembled(lab):
    fragments = 'src host {} and ip[6:2] & 0x3fff != 0'.format(ip(lab, 'client-1'))
    with Capture('eth0', fragments, node=lab.node('web-1')) as real:
        craft(lab, 'client-1', 'fragments', '--dport 5000', dst='web-1')
    assert len(real.packets) == 3                           # allowed udp 5000, reassembled to track
    before = lab.datapath_drops()['bogus-fragment']
    with Capture('eth0', fragments, node=lab.node('web-1')) as bogus:
        craft(lab, 'client-1', 'fragments', '--dport 5000 --overlap', dst='web-1')
        lab.wait_until(lambda: lab.datapath_drops()['bogus-fragment'] > before, what='a refused fragment')
    assert bogus.packets == []


def test_icmp_error_of_a_tracked_flow_passes_an_unrelated_one_does_not(lab):
    errors = 'icmp[0] == 3'
    passed = ['ct_state=+rel+trk']                            # the related flow at client-1's host
    before = journey.flow_packets(lab, 'r1-h2', P.INGRESS_SG_RULES, passed)
    with Capture('eth0', errors, node=lab.node('client-1')) as related:
        send_udp(lab, 'client-1', 'web-1', 42000, 5001, 1, 10)      # allowed; nobody listens
        lab.wait_until(lambda: journey.flow_packets(lab, 'r1-h2', P.INGRESS_SG_RULES, passed) > before,
                       what='a related ICMP error to pass')
    # client-1 (default group) admits nothing new from web-1: this can only pass as +rel
    assert [p['UDPerror'].dport for p in related.packets] == [5001]
    refused = drops(lab, 'invalid-packet') + drops(lab, 'security-group')
    with Capture('eth0', errors, node=lab.node('client-1')) as unrelated:
        craft(lab, 'web-1', 'icmp-error', '--about-src', ip(lab, 'client-1'), '--about-dst', ip(lab, 'web-1'),
              '--about-sport 42001 --about-dport 5002', dst='client-1', count=3)
        lab.wait_until(lambda: drops(lab, 'invalid-packet') + drops(lab, 'security-group') >= refused + 3,
                       what='the unrelated ICMP errors to be dropped')
    assert unrelated.packets == []


# ---- network ACLs and route tables ----------------------------------------------------------

def test_network_acl_deny_beats_a_security_group_allow(lab):
    before = journey.drops(lab, 'r1-h3', 'network-acl')
    assert not connects(lab, 'client-1', 'db-1', 80)        # web allows tcp 80; strict denies it
    assert journey.ping(lab.node('client-1'), ip(lab, 'db-1'), count=2)[0] == 2   # rule 200 allows
    lab.wait_until(lambda: journey.drops(lab, 'r1-h3', 'network-acl') > before, what='network-acl drops')


@pytest.mark.parametrize('src,dst,host,reason', [
    ('edge-1', '198.51.100.1', 'r1-h3', 'target-not-built'),    # 0.0.0.0/0 -> igw
    ('edge-1', '10.9.0.5', 'r1-h3', 'target-not-built'),        # longest prefix: vgw
    ('edge-1', '10.8.0.5', 'r1-h3', 'blackhole'),
    ('client-1', '198.51.100.1', 'r1-h2', 'no-route')])         # the main table: local route only
def test_route_to_a_missing_target_drops_with_its_reason(lab, src, dst, host, reason):
    before = journey.drops(lab, host, reason)
    assert journey.ping(lab.node(src), dst, count=2)[0] == 0
    lab.wait_until(lambda: journey.drops(lab, host, reason) >= before + 2, what=f'{reason} drops')


# ---- flow logs ------------------------------------------------------------------------------

def totals(lab, **filters):
    recs = lab.flow_logs(**filters)
    return sum(r['packets'] for r in recs), sum(r['bytes'] for r in recs)


def test_flow_log_records_match_what_was_sent(lab):
    web, client = (lab.topology.instance(n) for n in ('web-1', 'client-1'))
    send_udp(lab, 'client-1', 'web-1', 43000, 5000, 4, 100)        # allowed: 4 x 128 IP bytes
    send_udp(lab, 'client-1', 'web-1', 43001, 6000, 3, 100)        # no rule: rejected at web-1
    expected = [(dict(eni=web.eni, port=43000, action='ACCEPT'), (4, 512)),
                (dict(eni=client.eni, port=43000, action='ACCEPT'), (4, 512)),
                (dict(eni=web.eni, port=43001, action='REJECT'), (3, 384)),
                (dict(eni=client.eni, port=43001, action='ACCEPT'), (3, 384))]
    try:
        lab.wait_until(lambda: all(totals(lab, **f) == want for f, want in expected), timeout=15,
                       what='flow-log records of the datagrams')
    except LabError:
        raise AssertionError('flow-log totals: %s' % [(f, totals(lab, **f), want)
                                                      for f, want in expected]) from None
    rec = lab.flow_logs(eni=web.eni, port=43001)[0]
    assert (rec['srcaddr'], rec['dstaddr'], rec['dstport'], rec['protocol'], rec['version']) == \
        (client.ip, web.ip, 6000, 17, '2')


def vpclab(*args, returncode=0):
    out = subprocess.run([sys.executable, '-m', 'testbed.commands.cli', *args], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == returncode, out.stderr
    return out.stdout if returncode == 0 else out.stderr


def test_vpclab_commands_filter_flow_logs_and_change_a_group(lab):
    rejected = vpclab('flowlogs', '--eni', 'web-1', '--port', '43001', '--action', 'reject').splitlines()
    assert rejected[0].startswith('version account-id interface-id') and len(rejected) >= 2
    assert all(line.split()[2] == lab.topology.instance('web-1').eni and line.endswith('REJECT OK')
               for line in rejected[1:])
    server = listen(lab, 'web-1', ['nc', '-lk', '8443'], 8443)
    try:
        assert not connects(lab, 'client-1', 'web-1', 8443)
        shown = vpclab('security-group', 'blue', 'web', 'add', 'inbound', 'tcp', '8443', '10.0.1.30/32')
        assert ['inbound', 'tcp', '8443', '10.0.1.30/32'] in [line.split() for line in shown.splitlines()]
        assert connects(lab, 'client-1', 'web-1', 8443)
        assert 'tcp 8443' not in vpclab('security-group', 'blue', 'web', 'remove', 'inbound', 'tcp', '8443',
                                        '10.0.1.30/32')
        assert not connects(lab, 'client-1', 'web-1', 8443)
    finally:
        server.terminate()
        server.wait()


def test_the_shell_s_views_are_vpclab_commands_that_check_names_first(lab):
    assert 'counters:' in vpclab('cache', 'r1-h1') and 'web-1' in vpclab('placement')
    for table in ('check', str(P.CHECK)):               # a stage by name or by number
        assert 'tun_src=' in vpclab('flows', 'r1-h3', table)
    for args, says in ((('cache', 'r1 h1'), "no physical host named 'r1 h1'"),
                       (('flows', 'r1-h1', 'x'), "no pipeline stage 'x' (stages: CLASSIFY, ARP,"),
                       (('security-group', 'blue', 'nosuch'), "has no security group 'nosuch'"),
                       (('flowlogs', '--file', '/nonexistent'), '/nonexistent: No such file or directory'),
                       (('migrate', 'web-1', 'r1-h2'), 'run it in the `vpclab up` shell')):
        err = vpclab(*args, returncode=2)
        assert says in err and err.count('\n') == 1, err


def test_terminated_member_leaves_the_rules_that_name_its_group(lab):
    edge = 'nw_src={}'.format(ip(lab, 'edge-1'))                   # a member of admin, named by web's sg:admin

    def web_rules():
        return dump_flows(lab.bridge('r1-h1'), P.INGRESS_SG_RULES)
    assert edge in web_rules()
    lab.wait_for_change(lab.api.terminate('edge-1'))
    assert edge not in web_rules()
