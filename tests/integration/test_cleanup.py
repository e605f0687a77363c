"""Nothing is left behind: not after a crash (kill -9 of the lab's process, then
`vpclab down`), and not after bad input (which builds nothing)."""
import os
import signal
import subprocess
import sys

from conftest import ROOT, leftovers, topology

LAB_SCRIPT = '''
import sys
from testbed.lab import Lab
lab = Lab(sys.argv[1])
lab.start()
print("up", flush=True)
sys.stdin.read()
'''


def vpclab(*args):
    return subprocess.run([sys.executable, '-m', 'testbed.commands.cli', *args], cwd=ROOT,
                          capture_output=True, text=True)


def test_down_removes_what_a_killed_lab_left():
    proc = subprocess.Popen([sys.executable, '-c', LAB_SCRIPT, topology('default.yaml')],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == 'up'
    refused = vpclab('up', topology('default.yaml'))
    assert refused.returncode == 1 and 'another lab is running' in refused.stderr
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = leftovers()
    assert left['bridges'] and left['run_states'], 'the crash should have left things'
    out = vpclab('down')
    assert out.returncode == 0, out.stderr
    assert not any(leftovers().values()), leftovers()
    assert vpclab('down').stdout.strip() == 'nothing to clean up'


def test_bad_topology_builds_nothing(tmp_path):
    bad = tmp_path / 'bad.yaml'
    bad.write_text('format: 1\nfabric: {azs: {az1: {racks: {r1: {hosts: 1}}}}}\n'
                   'vpcs:\n  blue:\n    cidr: 10.0.0.0/33\n')
    out = vpclab('up', str(bad))
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and 'bad.yaml:5: vpcs.blue.cidr' in out.stderr
    assert 'Traceback' not in out.stderr
    assert not any(leftovers().values())


def test_sigterm_tears_the_lab_down():
    proc = subprocess.Popen([sys.executable, '-c', LAB_SCRIPT, topology('peering.yaml')],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == 'up'
    proc.terminate()
    proc.wait(timeout=60)
    assert not any(leftovers().values()), leftovers()
