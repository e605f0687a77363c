"""The commands a user runs: `vpclab demo` narrates what it really observed, and
`vpclab up` gives a Mininet CLI with the VPC commands."""
import subprocess
import sys

from conftest import ROOT, topology

from controllers import pipeline as P
from testbed.commands.demo import narrate


def test_demo_narrates_real_observations():
    lines = []
    narrate(topology('default.yaml'), out=lines.append)
    text = '\n'.join(lines)
    assert 'ARP frames seen on the underlay: 0' in text
    assert 'geneve VNI 100, inner 10.0.1.10 -> 10.0.1.11' in text
    assert 'for 3 packet(s)' in text and '3 of 3 replies' in text
    assert 'dropped 3 (spoofed-source)' in text and 'ALERT on r1-h1' in text
    assert 'received 0 of A\'s packets' in text
    assert 'The mapping service: 6 instances registered' in text and '{' not in text
    # on beyond step 8: out through Blackfoot and back
    assert 'outer 100.127.0.1 -> 100.127.255.1, geneve VNI 100, inner 10.0.1.10 -> 198.51.100.10' in text
    assert 'after Blackfoot, on the internet: 203.0.113.1 -> 198.51.100.10 (request' in text
    assert '2 of 2 replies came back through Blackfoot' in text


def test_up_runs_vpc_commands_in_the_mininet_cli():
    commands = '\n'.join(['mappings', 'cache r1-h1', 'counters', 'alerts', 'placement', 'pingall',
                          'blue-1 ping -c1 10.0.1.13', 'migrate blue-4 r1-h2', 'placement',
                          'migrate nosuch r1-h1', f'flows r1-h1 {P.CHECK}',
                          # typos and bad arguments: one line of error each, and the lab goes on
                          'cache r1 h1', 'cache nosuch', 'migrate blue-4', 'flows r1-h1 nosuch',
                          'sg blue nosuch', 'security-group blue default add sideways tcp 1 0.0.0.0/0',
                          'flowlogs --port eighty', 'flowlogs --file /nonexistent', 'cache "r1-h1',
                          'security-group blue default', 'exit']) + '\n'
    out = subprocess.run([sys.executable, '-m', 'testbed.commands.cli', 'up',
                          topology('two-tenants.yaml')], cwd=ROOT, input=commands,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr      # Mininet logs node output on stderr
    assert '1 received' in text                              # the node command ran
    assert ' pairs pinged, 0 not as expected' in out.stdout    # pingall: the reachability matrix
    assert 'blue-4 now runs on r1-h2' in text
    assert "no instance named 'nosuch'" in text
    assert f'table={P.CHECK}' in text and 'tun_src=' in text
    rows = [line.split() for line in out.stdout.splitlines()]
    placed = [row for row in rows if row[:3] == ['blue-4', 'blue', 'blue-a']]      # placement, not pingall
    assert [(row[4], row[5]) for row in placed] == [('10.0.1.13', 'r2-h1'), ('10.0.1.13', 'r1-h2')]
    errors = [line for line in out.stdout.splitlines() if 'error: ' in line]
    assert len(errors) == 10, errors
    assert "cache: unrecognized arguments: h1" in errors[1] and "no physical host named 'nosuch'" in errors[2]
    assert 'the following arguments are required: HOST' in errors[3]
    assert "has no security group 'nosuch'" in errors[5] and '/nonexistent: No such file' in errors[8]
    assert 'Traceback' not in text and 'inbound ' in text      # the last command still ran
