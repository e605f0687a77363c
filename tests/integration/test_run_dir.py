"""A lab leaves no /tmp/vpclab-* behind (its run directory: controller config and log, flow logs),
and writes the results where the user asked (`vpclab up --keep DIR`)."""
import glob
import os
import subprocess
import sys

from conftest import ROOT, topology

from testbed.lab import Lab


def run_dirs():
    return {p for p in glob.glob('/tmp/vpclab-*') if os.path.isdir(p)}     # the lab lock is a file


def test_a_lab_leaves_no_run_directory():
    before = run_dirs()
    with Lab(topology('default.yaml')) as lab:
        assert lab.run_dir in run_dirs() and os.path.exists(lab.flow_log_path)
    assert not os.path.exists(lab.run_dir)
    assert run_dirs() <= before


def test_up_keeps_the_results_where_asked_and_nothing_else(tmp_path):
    before = run_dirs()
    keep = tmp_path / 'results'
    out = subprocess.run([sys.executable, '-m', 'testbed.commands.cli', 'up', topology('firewall.yaml'),
                          '--keep', str(keep)], cwd=ROOT, input='web-1 ping -c2 -i0.2 10.0.1.20\nexit\n',
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert sorted(os.listdir(keep)) == ['controller.log', 'flow-logs.txt']
    assert (keep / 'flow-logs.txt').read_text().startswith('version account-id interface-id')
    assert run_dirs() <= before
