"""The classroom labs (labs/) with real packets: each lab's checks fail on its starting topology and pass
after its solution; `vpclab check` and `vpclab lab check|solve|reset` from another terminal, their exit
codes and reports, and grading a folder of submissions."""
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from conftest import ROOT

from testbed.lab import Lab
from testbed.labs import catalog, checks
from testbed.labs.runner import Runner

LABS = catalog.labs()


def run(topology, lab):
    with Lab(topology) as running:
        return Runner(running).run(checks.load(lab.checks, running.topology))


def vpclab(*args):
    return subprocess.run([sys.executable, '-m', 'testbed.commands.cli', *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize('lab', [x for x in LABS if catalog.is_topology(x.solution)], ids=lambda x: x.name)
def test_the_checks_fail_on_the_starting_topology_and_pass_on_the_solution(lab):
    before = run(lab.topology, lab)
    assert not all(r.passed for r in before), checks.render(before, lab.name, 'table')
    after = run(lab.solution, lab)
    assert all(r.passed for r in after), checks.render(after, lab.name, 'table')


def test_a_commands_solution_from_another_terminal_and_reset():
    lab = catalog.find('01')
    with Lab(lab.topology):
        first = vpclab('lab', 'check', '01', '--report', 'json')
        assert first.returncode == 1, first.stderr
        doc = json.loads(first.stdout)
        failed = next(c for c in doc['Checks'] if not c['Passed'])
        assert failed['Observed'] == 'denied' and failed['Drops'][0]['Stage'] == 'INGRESS_SG_RULES'
        assert failed['Drops'][0]['Reason'] == 'security-group'
        solved = vpclab('lab', 'solve', '01')
        assert solved.returncode == 0, solved.stderr
        after = vpclab('lab', 'check', '01')
        assert after.returncode == 0, after.stdout
        assert vpclab('lab', 'reset', '01').returncode == 0
        assert vpclab('lab', 'check', '01').returncode == 1


def test_vpclab_check_passes_with_exit_0_and_a_junit_report():
    lab = catalog.find('01')
    out = vpclab('check', lab.solution, lab.checks, '--report', 'junit')
    assert out.returncode == 0, out.stdout + out.stderr
    suite = ET.fromstring(out.stdout.split('?>', 1)[1]).find('testsuite')
    assert (suite.get('failures'), suite.get('errors'), suite.get('tests')) == ('0', '0', '5')


def test_grading_a_folder_one_lab_run_per_submission(tmp_path):
    lab = catalog.find('01')
    shutil.copy(lab.solution, tmp_path / 'alice.txt')
    shutil.copy(lab.topology, tmp_path / 'bob.yaml')              # handed in unchanged
    (tmp_path / 'carol.txt').write_text('reboot web-1\n')         # not a command
    out = vpclab('lab', 'grade', '01', tmp_path, '--report', 'csv')
    assert out.returncode == 1, out.stderr
    rows = [line.split(',') for line in out.stdout.splitlines()[1:]]
    results = {}
    for student, _, _, _, result, *_ in rows:
        results.setdefault(student, []).append(result)
    assert results['alice'] == ['pass'] * 5
    assert results['bob'].count('FAIL') == 1 and results['carol'] == ['ERROR']


def test_lab_6_a_check_s_failed_nodes_come_back_and_a_node_down_before_stays_down():
    lab = catalog.find('06')
    with Lab(lab.solution) as running:
        running.fail_node('hp4')                # it serves neither load balancer
        results = Runner(running).run(checks.load(lab.checks, running.topology))
        assert all(r.passed for r in results), checks.render(results, lab.name, 'table')
        assert running.failed_nodes == ['hp4']
        # from another terminal a node's process cannot be stopped: those checks say where to run them
        other = vpclab('lab', 'check', '06', '--report', 'json')
        assert other.returncode == 1, other.stderr
        errors = {c['Name']: c['Error'] for c in json.loads(other.stdout)['Checks'] if c['Failed']}
        assert len(errors) == 3 and all("run the checks in the lab's shell" in e for e in errors.values())


def test_a_topology_solution_on_the_running_lab_sets_its_security_groups_and_names_the_rest():
    lab = catalog.find('06')
    with Lab(lab.topology):
        solved = vpclab('lab', 'solve', '06')
        assert solved.returncode == 1 and 'blue/web' in solved.stdout, solved.stdout + solved.stderr
        assert 'hyperplane.shard_size' in solved.stderr and 'lab start 06-hyperplane --solved' in solved.stderr
        doc = json.loads(vpclab('lab', 'check', '06', '--report', 'json').stdout)
        assert doc['Checks'][0]['Passed'], doc['Checks'][0]            # the group admits the clients now
