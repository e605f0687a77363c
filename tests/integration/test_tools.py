"""The tools for seeing and driving a lab (issue 12), each run as a user runs it: `vpclab COMMAND` in
another process while one lab (topologies/default.yaml) runs in this one."""
import csv
import io
import json
import subprocess
import sys

import pytest
from conftest import ROOT, topology

from testbed.lab import Lab


@pytest.fixture(scope='module')
def lab():
    with Lab(topology('default.yaml')) as lab:
        yield lab


def vpclab(*args, returncode=0, timeout=60, **kwargs):
    out = subprocess.run([sys.executable, '-m', 'testbed.commands.cli', *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=timeout, **kwargs)
    assert out.returncode == returncode, (out.returncode, out.stdout, out.stderr)
    return out


VIEWS = [['mappings'], ['cache', 'r1-h1'], ['counters'], ['alerts'], ['placement'], ['inspect'],
         ['inspect', '--wide'], ['security-group', 'blue', 'default'], ['flowlogs']]


@pytest.mark.parametrize('view', VIEWS, ids=' '.join)
def test_every_view_in_each_format(lab, view):
    table = vpclab(*view).stdout
    assert table.strip() and '{' not in table and 'Traceback' not in table
    assert json.loads(vpclab(*view, '-o', 'json').stdout)
    rows = list(csv.reader(io.StringIO(vpclab(*view, '-o', 'csv').stdout)))
    assert rows and rows[0]


def test_counters_and_drops_read_as_tables(lab):
    lab.node('web-1').cmd('ping -c1 -W1 10.0.1.11')
    text = vpclab('counters').stdout
    assert 'hypervisors:' in text and 'PACKET-IN' in text and 'r3-h2' in text
    doc = json.loads(vpclab('counters', '-o', 'json').stdout)
    assert {h['HostId'] for h in doc['Hosts']} == set(lab.topology.hosts)


def test_inspect_says_what_runs(lab):
    text = vpclab('inspect').stdout
    assert text.startswith('lab default (') and ': ready' in text
    assert f'controller PID {lab.controller.proc.pid}' in text
    web = next(line.split() for line in text.splitlines() if line.startswith('web-1 '))
    inst = lab.topology.instance('web-1')
    assert web == ['web-1', 'blue', 'r1-h1', '10.0.1.10', inst.eni, inst.mac]
    wide = vpclab('inspect', '--wide').stdout
    assert str(lab.node('web-1').pid) in wide and inst.id in wide
    doc = json.loads(vpclab('inspect', '-o', 'json').stdout)
    assert doc['Controller'] == dict(Pid=lab.controller.proc.pid, Ready=True, OpenFlowErrors=0)
    hosts = {h['HostId']: h for h in doc['PhysicalHosts']}
    assert hosts['r1-h1']['Instances'] == 2 and hosts['r1-h1']['Bridge'] == 'vl_r1-h1'
    assert 'Reservations' in doc and doc['Lab']['Name'] == 'default'


def test_exec_runs_in_the_instance_and_passes_its_exit_code(lab):
    out = vpclab('exec', 'web-1', '--', 'ip', '-brief', 'addr', 'show', 'eth0').stdout
    assert '10.0.1.10/24' in out
    assert '1 received' in vpclab('exec', 'web-1', '--', 'ping', '-c1', '-W2', '10.0.1.11').stdout
    vpclab('exec', 'red-1', '--', 'sh', '-c', 'exit 7', returncode=7)
    vpclab('exec', 'red-1', '--', 'ping', '-c1', '-W1', '10.1.1.10', returncode=1)   # red is not peered
    err = vpclab('exec', 'nosuch', '--', 'true', returncode=2).stderr
    assert "no instance named 'nosuch'" in err and err.count('\n') == 1
    assert vpclab('exec', 'web-1', returncode=2).stderr.count('\n') == 1




def test_graph_of_the_running_lab_s_file(lab, tmp_path):
    assert 'class i_web_1 vpc0' in vpclab('graph', lab.topology.path).stdout
    vpclab('graph', lab.topology.path, '--format', 'svg', '-w', str(tmp_path / 'lab.svg'))
    assert '<svg' in (tmp_path / 'lab.svg').read_text()
    assert vpclab('graph', 'nosuch.yaml', returncode=2).stderr.count('\n') == 1


def capture_process(*args):
    return subprocess.Popen([sys.executable, '-m', 'testbed.commands.cli', 'capture', *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def started(proc):
    """The capture's legend is out and tcpdump listens."""
    said = []
    while not any('listening on' in line for line in said):
        line = proc.stderr.readline().decode()
        assert line, f'capture ended early: {said}'
        said.append(line)
    return ''.join(said)


def test_capture_streams_a_pcap_of_an_instance(lab, tmp_path):
    from testbed.observe.capture import load_scapy_layers
    proc = capture_process('-w', '-', '-c', '2', 'web-2', 'icmp')
    said = started(proc)
    assert 'VNI 100 -> VPC blue' in said and 'VNI 101 -> VPC red' in said
    lab.node('web-1').cmd('ping -c1 -W2 10.0.1.11')
    pcap, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    (tmp_path / 'web-2.pcap').write_bytes(pcap)
    packets = load_scapy_layers()(str(tmp_path / 'web-2.pcap'))
    assert [p['IP'].src for p in packets] == ['10.0.1.10', '10.0.1.11']        # request in, reply out


def test_capture_of_a_host_nic_sees_the_vni_and_ends_cleanly_on_ctrl_c(lab, tmp_path):
    import signal

    from testbed.observe.capture import load_scapy_layers, tunnel_summary
    path = tmp_path / 'r1-h1.pcap'
    proc = capture_process('-w', str(path), 'r1-h1', 'udp', 'port', '6081')
    started(proc)
    lab.node('red-1').cmd('ping -c2 -i0.2 -W2 10.0.1.11')
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=20)
    assert proc.returncode == 0
    seen = {tunnel_summary(p) for p in load_scapy_layers()(str(path))}
    assert ('100.127.0.1', '100.127.0.3', 101, '10.0.1.10', '10.0.1.11') in seen        # red's VNI, not blue's


def test_two_first_captures_of_one_host_at_once_both_see_its_traffic(lab):
    """r3-h1's cable has no capture veth yet: both processes ask for it at once; one makes it."""
    procs = [capture_process('-c', '1', 'r3-h1', 'udp', 'port', '6081') for _ in range(2)]
    for proc in procs:
        started(proc)
    lab.node('app-1').cmd('ping -c1 -W2 10.0.1.10')
    for proc in procs:
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0 and b'100.127.' in out, err


def test_capture_with_a_bad_target_or_filter(lab):
    err = vpclab('capture', 'nosuch', returncode=2).stderr
    assert 'is no instance, physical host or interface' in err and err.count('\n') == 1
    assert vpclab('capture', '-c', '1', 'web-1', 'no', 'such', 'filter', returncode=1).returncode == 1


def test_reachability_by_name_and_mismatches_highlighted(lab):
    text = vpclab('reachability').stdout
    pairs = 3 * 3 + 2 * 1 + 1 * 3                 # blue: 2 others + green-1 each; red: 1; green: blue's 3
    assert text.startswith(f'{pairs} pairs pinged, 0 not as expected'), text
    red = text.split('VPC red')[1].split('VPC green')[0]
    assert 'web' not in red and 'green' not in red            # the same addresses, never paired
    web2 = lab.node('web-2')
    web2.cmd('iptables -I INPUT -p icmp --icmp-type echo-request -j DROP')
    try:
        doc = json.loads(vpclab('reachability', '--vpc', 'blue', '-o', 'json').stdout)
        text = vpclab('reachability', '--vpc', 'blue').stdout
    finally:
        web2.cmd('iptables -D INPUT -p icmp --icmp-type echo-request -j DROP')
    wrong = sorted((p['Source'], p['Destination']) for v in doc['Vpcs'] for p in v['Pairs'] if not p['Match'])
    assert wrong == [('app-1', 'web-2'), ('web-1', 'web-2')] and doc['Mismatches'] == 2
    assert '!! web-1 -> web-2 (10.0.1.11): no reply, expected a reply' in text
