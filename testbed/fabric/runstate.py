"""What a running lab has created, on disk, so that `vpclab down` can remove it after a
crash.  Things are recorded *before* they are created; cleanup is by recorded PID and
name, never by pattern.

The record is not trusted blindly: `vpclab down` runs as root and a forged file must not
turn it into a tool.  Files and their directory are root-only (0700/0600), written without
following symlinks (a new temporary file, O_EXCL|O_NOFOLLOW, renamed over the old one);
a file not owned by us or writable by others is ignored with a warning.  Cleanup deletes
only bridges and interfaces that carry the lab's prefix, and signals a process only while
its whole command line is the one recorded when it was started (never PID 1, never us).

Next to the record, `<prefix>.token` holds the management API's token (api_token()).
"""
import json
import os
import re
import secrets
import signal
import stat
import subprocess
import sys
import time

STATE_DIR = '/run/vpclab'
MAX_STATE_BYTES = 64 << 20
LAB_PREFIX = re.compile(r'[A-Za-z0-9]{2}_\Z')
NAME = re.compile(r'[A-Za-z0-9_.-]{1,15}\Z')      # a Linux interface or OVS bridge name


def cmdline(pid):
    try:
        with open(f'/proc/{int(pid)}/cmdline', 'rb') as f:
            return f.read().replace(b'\0', b' ').decode(errors='replace')
    except (OSError, ValueError, TypeError):
        return None


def alive(pid, must_contain):
    line = cmdline(pid)
    return bool(must_contain) and line is not None and must_contain in line


def settled_cmdline(pid, must_contain, timeout=2.0):
    """The command line of a process just started: right after exec the kernel shows an
    empty one for a moment (Popen returns once exec has begun), so wait for `must_contain`; a
    process started in a Mininet node is first `mnexec ... CMD`, which then execs CMD: wait for
    that too, or `vpclab down` would not recognise the process it became."""
    deadline = time.monotonic() + timeout
    line = cmdline(pid)
    while line is not None and (must_contain not in line or _launching(line)) and time.monotonic() < deadline:
        time.sleep(0.005)
        line = cmdline(pid)
    return line


def _launching(line):
    return os.path.basename(line.split(' ', 1)[0]) == 'mnexec'


def warn(msg):
    print(f'vpclab: {msg}', file=sys.stderr)


# ---- files only root can write ---------------------------------------------------------

def _untrusted(st, kind):
    """Why a file or directory must not be believed (None when it may)."""
    if not kind(st.st_mode):
        return 'not a regular file' if kind is stat.S_ISREG else 'not a directory'
    if st.st_uid != os.geteuid():
        return f'owned by uid {st.st_uid}, not {os.geteuid()}'
    if st.st_mode & 0o022:
        return f'writable by others (mode {stat.S_IMODE(st.st_mode):04o})'
    return None


def private_dir(path, create=False):
    """True if `path` is a directory only we can write; create=True makes it (0700)."""
    if create:
        os.makedirs(path, mode=0o700, exist_ok=True)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    why = _untrusted(st, stat.S_ISDIR)
    if why:
        warn(f'ignoring the run-state directory {path}: {why}')
        return False
    if create and stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return True


def write_private(path, data):
    """Write bytes to `path` (0600) through a new temporary file renamed over it."""
    tmp = f'{path}.{secrets.token_hex(6)}.tmp'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def read_private(path, limit=MAX_STATE_BYTES):
    """The bytes of `path`, or None (with a warning) when it is not ours alone."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        warn(f'ignoring {path}: {exc.strerror}')
        return None
    with os.fdopen(fd, 'rb') as f:
        st = os.fstat(f.fileno())
        why = _untrusted(st, stat.S_ISREG) or (f'larger than {limit} bytes' if st.st_size > limit else None)
        if why:
            warn(f'ignoring {path}: {why}')
            return None
        return f.read(limit)


class RunState:
    def __init__(self, path, data):
        self.path, self.data = path, data

    @classmethod
    def new(cls, prefix, state_dir=STATE_DIR):
        return cls(os.path.join(state_dir, prefix.rstrip('_') + '.json'),
                   dict(prefix=prefix, lab_pid=os.getpid(), processes=[], bridges=[],
                        interfaces=[], netns=[], guards=[]))

    @classmethod
    def existing(cls, state_dir=STATE_DIR):
        """RunStates of labs recorded on this machine (files we may not trust are left out)."""
        if not os.path.isdir(state_dir) or not private_dir(state_dir):
            return []
        found = []
        for name in sorted(n for n in os.listdir(state_dir) if n.endswith('.json')):
            path = os.path.join(state_dir, name)
            raw = read_private(path)
            if raw is None:
                continue
            try:
                data = json.loads(raw)
            except ValueError:
                data = None
            found.append(cls(path, data if isinstance(data, dict) else {}))
        return found

    @classmethod
    def for_api_port(cls, port, state_dir=STATE_DIR):
        """The run state of the lab whose management API listens on `port`, or None."""
        return next((s for s in cls.existing(state_dir) if s.data.get('api_port') == port), None)

    def lab_running(self):
        pid = self.data.get('lab_pid')
        return isinstance(pid, int) and pid > 1 and pid != os.getpid() and \
            cmdline(pid) is not None and self.data.get('lab_cmdline') == cmdline(pid)

    def claim(self):
        private_dir(os.path.dirname(self.path), create=True)
        self.data['lab_cmdline'] = cmdline(os.getpid())
        self.save()

    def save(self):
        write_private(self.path, json.dumps(self.data, indent=1).encode())

    def add(self, key, *items):
        if key == 'processes':         # [pid, must_contain] -> with the whole command line now
            items = [[pid, must, settled_cmdline(pid, must)] for pid, must, *_ in items]
        have = self.data.setdefault(key, [])
        have.extend(i for i in items if i not in have)
        self.save()

    def add_process(self, pid, must_contain):
        self.add('processes', [pid, must_contain])

    # ---- the management API's token --------------------------------------------------
    @property
    def token_path(self):
        return self.path[:-len('.json')] + '.token'

    def new_api_token(self):
        """A fresh random token in a root-only file next to the record; returns its path."""
        write_private(self.token_path, (secrets.token_urlsafe(32) + '\n').encode())
        return self.token_path

    def api_token(self):
        """The token the lab's management API wants on every POST, or None."""
        if not os.path.lexists(self.token_path):
            return None
        raw = read_private(self.token_path, limit=4096)
        return (raw or b'').decode(errors='replace').strip() or None

    # ---- cleanup ---------------------------------------------------------------------
    def processes(self):
        """Recorded processes that may be signalled now: (pid, what, command line)."""
        out = []
        for item in self.data.get('processes', []):
            if not (isinstance(item, list) and len(item) == 3):
                continue
            pid, must, line = item
            if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1 or pid == os.getpid():
                continue
            if not (isinstance(must, str) and must and isinstance(line, str) and must in line):
                continue
            if cmdline(pid) == line:
                out.append((pid, must, line))
        return out

    def names(self, key, pattern=NAME):
        """Recorded bridges, interfaces or namespaces that carry the lab's prefix."""
        prefix = self.prefix()
        return [n for n in self.data.get(key, []) if prefix and isinstance(n, str) and
                n.startswith(prefix) and pattern.match(n)]

    def prefix(self):
        prefix = self.data.get('prefix')
        return prefix if isinstance(prefix, str) and LAB_PREFIX.match(prefix) else None

    def clean(self, log=print):
        """Stop recorded processes, delete recorded bridges and interfaces."""
        if self.data and self.prefix() is None:
            warn(f'{self.path} names no valid lab prefix: removing the record only')
        for pid, must_contain, line in self.processes():
            log(f'stopping process {pid} ({must_contain})')
            _terminate(pid, line)
        try:
            bridges = set(subprocess.run(['ovs-vsctl', '--timeout=5', 'list-br'],
                                         capture_output=True, text=True).stdout.split())
        except FileNotFoundError:       # no Open vSwitch, so no bridge of ours either
            bridges = set()
        for br in self.names('bridges'):
            if br in bridges:
                log(f'deleting bridge {br}')
                subprocess.run(['ovs-vsctl', '--timeout=10', '--if-exists', 'del-br', br])
        from testbed.fabric import netns
        spaces = [n for n in self.names('netns', netns.NETNS_NAME) if os.path.lexists(netns.path(n))]
        if spaces:
            log(f'removing {len(spaces)} network namespaces')
            netns.remove(spaces)
            netns.wait_gone(self.names('interfaces'), timeout=10)   # their cables go with them
        for intf in self.names('interfaces'):
            if os.path.exists('/sys/class/net/' + intf):
                log(f'deleting interface {intf}')
                subprocess.run(['ip', 'link', 'del', intf], stderr=subprocess.DEVNULL)
        if self.prefix() and 'iptables' in self.data.get('guards', []):
            from testbed.fabric import isolation
            isolation.unguard(self.prefix())
        self.remove()

    def remove(self):
        for path in (self.path, self.token_path):
            if os.path.lexists(path):
                os.unlink(path)


def _terminate(pid, line, timeout=5.0):
    """SIGTERM, then SIGKILL, while `pid` still runs the command line `line`."""
    def same():
        return cmdline(pid) == line
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while same() and time.monotonic() < deadline:
            time.sleep(0.05)
        if same():
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
