"""RunState: what a lab created, recorded on disk, and its cleanup.

clean() runs `ovs-vsctl list-br`; every test here puts a fake ovs-vsctl (or none) first
and alone on PATH, so that the real OVS of this machine is never asked anything."""
import json
import os
import stat
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
        script.write_text(f'#!/bin/sh\necho "$@" >> {log}\n'
                          f'case "$*" in *list-br*) printf "{list_br_output}"; exit {list_br_rc};; esac\nexit 0\n')
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
    assert back.data['processes'] == [[1234, 'mininet:web-1', runstate.cmdline(1234)]]
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
    assert said == [f'stopping process {proc.pid} ({marker})']


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


# ---- forged and unsafe records (issue 14 item 6) -------------------------------------------

def forge(tmp_path, data, mode=0o600):
    state_dir = tmp_path / 'state'
    state_dir.mkdir(mode=0o700, exist_ok=True)
    path = state_dir / 'zq.json'
    path.write_text(json.dumps(data))
    path.chmod(mode)
    return str(state_dir)


def test_a_forged_record_never_signals_pid_1_us_or_a_process_it_did_not_start(tmp_path, fake_ovs, child):
    fake_ovs()
    proc, marker = child
    line = runstate.cmdline(proc.pid)
    state_dir = forge(tmp_path, dict(prefix='zq_', processes=[
        [1, '', runstate.cmdline(1)], [1, ''], [os.getpid(), '', own_cmdline()],
        [proc.pid, ''],                              # the old format: must_contain '' matched all
        [proc.pid, '', line],                        # empty must_contain
        [proc.pid, marker, line.replace(marker, 'x')],   # not the command line it runs
        [True, marker, line], [str(proc.pid), marker, line], 'junk', [proc.pid]]))
    [s] = RunState.existing(state_dir)
    said = []
    s.clean(log=said.append)
    assert said == [] and proc.poll() is None
    assert not os.path.exists(s.path)


def test_a_forged_record_deletes_only_what_carries_its_prefix(tmp_path, fake_ovs, monkeypatch):
    log = fake_ovs(list_br_output='zq_br1\\nbr-ex\\nvl_h1\\n')
    ip_log = tmp_path / 'ip.log'
    script = tmp_path / 'bin' / 'ip'
    script.write_text(f'#!/bin/sh\necho "$@" >> {ip_log}\n')
    script.chmod(0o755)
    monkeypatch.setattr(runstate.os.path, 'exists', lambda p: p.startswith('/sys/class/net/') or os.path.lexists(p))
    state_dir = forge(tmp_path, dict(prefix='zq_', bridges=['br-ex', 'vl_h1', 'zq_br1', 'zq_../x'],
                                     interfaces=['eth0', 'lo', 'zq_i1', 'zq_' + 'x' * 20, 'zq_a/b']))
    [s] = RunState.existing(state_dir)
    s.clean(log=lambda *_: None)
    assert [c for c in log.read_text().splitlines() if 'del-br' in c] == ['--timeout=10 --if-exists del-br zq_br1']
    assert ip_log.read_text().splitlines() == ['link del zq_i1']


@pytest.mark.parametrize('prefix', ['', None, 'zq', 'vl_+', '*_', '../', 7])
def test_a_record_without_a_valid_prefix_deletes_nothing(tmp_path, fake_ovs, prefix):
    log = fake_ovs(list_br_output='br-ex\\n')
    state_dir = forge(tmp_path, dict(prefix=prefix, bridges=['br-ex'], interfaces=['eth0']))
    [s] = RunState.existing(state_dir)
    s.clean(log=lambda *_: None)
    assert not any('del-br' in c for c in log.read_text().splitlines())
    assert not os.path.exists(s.path)


@pytest.mark.parametrize('mode', [0o620, 0o602, 0o666])
def test_a_record_others_can_write_is_ignored_with_a_warning(tmp_path, capsys, mode):
    state_dir = forge(tmp_path, dict(prefix='zq_', bridges=['zq_a']), mode=mode)
    assert RunState.existing(state_dir) == []
    assert 'writable by others' in capsys.readouterr().err


def test_a_record_owned_by_someone_else_is_ignored(tmp_path, capsys):
    state_dir = forge(tmp_path, dict(prefix='zq_'))
    os.chown(os.path.join(state_dir, 'zq.json'), 65534, 65534)
    assert RunState.existing(state_dir) == []
    assert 'owned by uid 65534' in capsys.readouterr().err


def test_a_symlinked_record_or_a_fifo_is_ignored(tmp_path, capsys):
    state_dir = tmp_path / 'state'
    state_dir.mkdir(mode=0o700)
    (tmp_path / 'target.json').write_text('{"prefix": "zq_"}')
    (state_dir / 'a.json').symlink_to(tmp_path / 'target.json')
    os.mkfifo(state_dir / 'b.json')                 # must not hang
    assert RunState.existing(str(state_dir)) == []
    err = capsys.readouterr().err
    assert 'a.json' in err and 'b.json' in err


def test_a_state_dir_others_can_write_is_ignored(tmp_path, capsys):
    state_dir = forge(tmp_path, dict(prefix='zq_'))
    os.chmod(state_dir, 0o777)
    assert RunState.existing(state_dir) == []
    assert 'writable by others' in capsys.readouterr().err


def test_files_are_root_only_and_saving_never_follows_a_symlink(tmp_path):
    s = RunState.new('zq_', str(tmp_path / 'state'))
    s.claim()
    victim = tmp_path / 'victim'
    victim.write_text('untouched')
    os.unlink(s.path)
    os.symlink(victim, s.path)                      # planted where the record goes
    s.add('bridges', 'zq_a')
    assert victim.read_text() == 'untouched'
    assert not os.path.islink(s.path)
    assert stat.S_IMODE(os.stat(s.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(s.path)).st_mode) == 0o700


def test_claim_makes_an_existing_open_state_dir_private(tmp_path):
    state_dir = tmp_path / 'state'
    state_dir.mkdir(mode=0o755)
    state_dir.chmod(0o755)
    RunState.new('zq_', str(state_dir)).claim()
    assert stat.S_IMODE(os.stat(state_dir).st_mode) == 0o700


def test_api_token_is_random_root_only_and_removed_with_the_record(tmp_path):
    s = new_state(tmp_path)
    assert s.api_token() is None
    path = s.new_api_token()
    token = s.api_token()
    assert len(token) >= 40 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    other = new_state(tmp_path / 'other')
    other.new_api_token()
    assert other.api_token() != token
    s.remove()
    assert not os.path.exists(path)


def test_api_token_others_can_write_is_not_believed(tmp_path, capsys):
    s = new_state(tmp_path)
    os.chmod(s.new_api_token(), 0o666)
    assert s.api_token() is None
    assert 'writable by others' in capsys.readouterr().err


def test_clean_removes_the_guard_of_its_prefix_only(tmp_path, fake_ovs, monkeypatch):
    fake_ovs()
    calls = []
    from testbed.fabric import isolation
    monkeypatch.setattr(isolation, 'unguard', calls.append)
    s = new_state(tmp_path, guards=['iptables'])
    s.clean(log=lambda *_: None)
    assert calls == ['zq_']


def test_a_process_recorded_right_after_popen_has_its_final_command_line(tmp_path):
    """Right after exec the kernel shows an empty command line for a moment (measured: 32 of
    200 reads right after Popen); a record of that would never match again."""
    s = new_state(tmp_path)
    for i in range(20):
        marker = f'vpclab-unit-{i}-{uuid.uuid4().hex}'
        proc = subprocess.Popen(['/bin/sh', '-c', 'sleep 5', marker])
        try:
            s.add_process(proc.pid, marker)
            assert marker in s.data['processes'][-1][2]
        finally:
            proc.kill()
            proc.wait()
