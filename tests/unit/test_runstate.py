"""RunState: what a lab created, recorded on disk, and its cleanup.

clean() runs `ovs-vsctl list-br`; every test here puts a fake ovs-vsctl (or none) first
and alone on PATH, so that the real OVS of this machine is never asked anything."""
import os
import subprocess
import sys
import time
import uuid

import pytest

from testbed.fabric import runstate
from testbed.fabric.runstate import RunState, alive


def own_cmdline():
    with open('/proc/self/cmdline', 'rb') as f:
        return f.read().replace(b'\0', b' ').decode()


@pytest.fixture
def fake_ovs(tmp_path, monkeypatch):
    """A PATH holding only a fake ovs-vsctl; returns a function that writes its script.
    The fake logs its arguments to calls.log."""
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    log = tmp_path / 'calls.log'
    monkeypatch.setenv('PATH', str(bindir))

    def install(list_br_output='', list_br_rc=0):
        script = bindir / 'ovs-vsctl'
        script.write_text('#!/bin/sh\necho "$@" >> %s\n'
                          'case "$*" in *list-br*) printf "%s"; exit %d;; esac\nexit 0\n'
                          % (log, list_br_output, list_br_rc))
        script.chmod(0o755)
        return log
    return install


@pytest.fixture
def child():
    """A process of our own whose command line carries a unique marker."""
    marker = f'vpclab-unit-{uuid.uuid4().hex}'
    proc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', marker])
    deadline = time.monotonic() + 10
    while marker not in (runstate.cmdline(proc.pid) or '') and time.monotonic() < deadline:
        time.sleep(0.01)       # until exec: the child still shows our command line
    try:
        yield proc, marker
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def new_state(tmp_path, **data):
    s = RunState.new('zq_', str(tmp_path / 'state'))
    s.claim()
    for key, items in data.items():
        s.add(key, *items)
    return s


# ---- the record on disk -----------------------------------------------------------------

def test_new_claim_existing_remove_round_trip(tmp_path):
    state_dir = str(tmp_path / 'state')          # does not exist yet: claim creates it
    s = RunState.new('zq_', state_dir)
    assert s.path == os.path.join(state_dir, 'zq.json')
    s.claim()
    s.add('bridges', 'zq_a', 'zq_b', 'zq_a')
    s.add('bridges', 'zq_b')
    s.add_process(1234, 'mininet:web-1')
    [back] = RunState.existing(state_dir)
    assert back.path == s.path
    assert back.data['bridges'] == ['zq_a', 'zq_b']
    assert back.data['processes'] == [[1234, 'mininet:web-1']]
    assert back.data['prefix'] == 'zq_' and back.data['lab_pid'] == os.getpid()
    assert back.data['lab_cmdline'] == own_cmdline()
    back.remove()
    assert RunState.existing(state_dir) == []
    back.remove()                                 # twice is fine


def test_existing_tolerates_missing_dir_and_bad_files(tmp_path):
    assert RunState.existing(str(tmp_path / 'nowhere')) == []
    (tmp_path / 'bad.json').write_text('{not json')
    (tmp_path / 'notes.txt').write_text('ignored')
    [bad] = RunState.existing(str(tmp_path))
    assert bad.data == {} and bad.path.endswith('bad.json')


def test_no_tmp_file_left_behind(tmp_path):
    s = new_state(tmp_path, bridges=['zq_a'])
    assert sorted(os.listdir(os.path.dirname(s.path))) == ['zq.json']


# ---- processes --------------------------------------------------------------------------

def test_alive_needs_the_string_in_the_command_line():
    assert alive(os.getpid(), own_cmdline().split()[0])
    assert not alive(os.getpid(), f'no-such-string-{uuid.uuid4().hex}')


def test_alive_is_false_for_a_finished_process():
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    assert runstate.cmdline(proc.pid) is None
    assert not alive(proc.pid, '')


def test_lab_running_only_for_another_process_with_the_same_cmdline(tmp_path, child):
    proc, marker = child
    s = new_state(tmp_path)
    assert not s.lab_running()                  # that is us
    s.data.update(lab_pid=proc.pid, lab_cmdline=runstate.cmdline(proc.pid))
    assert s.lab_running()
    s.data['lab_cmdline'] = 'something else'
    assert not s.lab_running()


# ---- cleanup ----------------------------------------------------------------------------

def test_clean_does_not_signal_a_process_whose_cmdline_does_not_match(tmp_path, fake_ovs, child):
    fake_ovs()
    proc, marker = child
    other = f'no-such-string-{uuid.uuid4().hex}'
    s = new_state(tmp_path, processes=[[os.getpid(), other], [proc.pid, other]],
                  bridges=[], interfaces=[])
    said = []
    s.clean(log=said.append)
    assert proc.poll() is None                  # still running
    os.kill(os.getpid(), 0)                     # and so are we
    assert said == []
    assert not os.path.exists(s.path)


def test_clean_stops_a_recorded_process_that_matches(tmp_path, fake_ovs, child):
    fake_ovs()
    proc, marker = child
    s = new_state(tmp_path, processes=[[proc.pid, marker]])
    said = []
    s.clean(log=said.append)
    assert proc.wait(timeout=10) is not None
    assert said == ['stopping process %d (%s)' % (proc.pid, marker)]


def test_clean_deletes_only_recorded_bridges_that_exist(tmp_path, fake_ovs):
    log = fake_ovs(list_br_output='zq_br1\\nother_br\\n')
    s = new_state(tmp_path, bridges=['zq_br1', 'zq_gone'])
    said = []
    s.clean(log=said.append)
    calls = log.read_text().splitlines()
    assert calls[0].endswith('list-br')
    assert [c for c in calls if 'del-br' in c] == ['--timeout=10 --if-exists del-br zq_br1']
    assert said == ['deleting bridge zq_br1']


def test_clean_survives_failing_ovs_vsctl(tmp_path, fake_ovs):
    log = fake_ovs(list_br_rc=1)
    s = new_state(tmp_path, bridges=['zq_br1'], interfaces=[])
    s.clean(log=lambda *_: None)
    assert not any('del-br' in c for c in log.read_text().splitlines())
    assert not os.path.exists(s.path)


def test_clean_survives_missing_ovs_vsctl(tmp_path, monkeypatch):
    empty = tmp_path / 'empty-bin'
    empty.mkdir()
    monkeypatch.setenv('PATH', str(empty))          # no ovs-vsctl at all
    s = new_state(tmp_path, processes=[], bridges=[], interfaces=[])
    s.clean(log=lambda *_: None)
    assert not os.path.exists(s.path)
