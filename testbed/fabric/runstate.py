"""What a running lab has created, on disk, so that `vpclab down` can remove it after a
crash.  Things are recorded *before* they are created; cleanup is by recorded PID and
name, never by pattern, and a PID is signalled only while its command line is still
the one we started."""
import json
import os
import signal
import subprocess
import time

STATE_DIR = '/run/vpclab'


def cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().replace(b'\0', b' ').decode(errors='replace')
    except OSError:
        return None


def alive(pid, must_contain):
    line = cmdline(pid)
    return line is not None and must_contain in line


class RunState:
    def __init__(self, path, data):
        self.path, self.data = path, data

    @classmethod
    def new(cls, prefix, state_dir=STATE_DIR):
        return cls(os.path.join(state_dir, prefix.rstrip('_') + '.json'),
                   dict(prefix=prefix, lab_pid=os.getpid(), processes=[], bridges=[],
                        interfaces=[]))

    @classmethod
    def existing(cls, state_dir=STATE_DIR):
        """RunStates of labs recorded on this machine."""
        found = []
        names = sorted(os.listdir(state_dir)) if os.path.isdir(state_dir) else []
        for name in (n for n in names if n.endswith('.json')):
            path = os.path.join(state_dir, name)
            try:
                with open(path) as f:
                    data = json.load(f)
            except (OSError, ValueError):
                data = {}
            found.append(cls(path, data))
        return found

    def lab_running(self):
        pid = self.data.get('lab_pid')
        return bool(pid) and pid != os.getpid() and cmdline(pid) is not None and \
            self.data.get('lab_cmdline') == cmdline(pid)

    def claim(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.data['lab_cmdline'] = cmdline(os.getpid())
        self.save()

    def save(self):
        tmp = self.path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(self.data, f, indent=1)
        os.replace(tmp, self.path)

    def add(self, key, *items):
        self.data[key].extend(i for i in items if i not in self.data[key])
        self.save()

    def add_process(self, pid, must_contain):
        self.add('processes', [pid, must_contain])

    def clean(self, log=print):
        """Stop recorded processes, delete recorded bridges and interfaces."""
        for pid, must_contain in self.data.get('processes', []):
            if alive(pid, must_contain):
                log('stopping process %d (%s)' % (pid, must_contain))
                _terminate(pid, must_contain)
        try:
            bridges = set(subprocess.run(['ovs-vsctl', '--timeout=5', 'list-br'],
                                         capture_output=True, text=True).stdout.split())
        except FileNotFoundError:       # no Open vSwitch, so no bridge of ours either
            bridges = set()
        for br in self.data.get('bridges', []):
            if br in bridges:
                log(f'deleting bridge {br}')
                subprocess.run(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', br])
        for intf in self.data.get('interfaces', []):
            if os.path.exists('/sys/class/net/' + intf):
                log(f'deleting interface {intf}')
                subprocess.run(['ip', 'link', 'del', intf], stderr=subprocess.DEVNULL)
        self.remove()

    def remove(self):
        if os.path.exists(self.path):
            os.unlink(self.path)


def _terminate(pid, must_contain, timeout=5.0):
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while alive(pid, must_contain) and time.monotonic() < deadline:
            time.sleep(0.05)
        if alive(pid, must_contain):
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
