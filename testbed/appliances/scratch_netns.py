"""A throwaway network namespace with veth pairs, for the packet loop's root-only tests and its
micro-benchmark: no lab, no Mininet, no OVS, so no lab lock; everything it makes is named with the
prefix `vlt_` and deleted on exit, whatever happened.

    with ScratchNetns(pairs=2) as ns:            # vlt_<pid>: vlt_<pid>a0/vlt_<pid>b0, ...a1/...b1
        with ns.entered():                       # this thread's sockets are made inside it
            ...
"""
import contextlib
import ctypes
import os
import subprocess
import threading

CLONE_NEWNET = 0x40000000
PREFIX = 'vlt_'


def _ip(*args, check=True):
    return subprocess.run(['ip', *args], check=check, capture_output=True, text=True)


def _setns(fd):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), 'setns failed')


class ScratchNetns:
    """Namespace `vlt_<tag>` with `pairs` veth pairs, every end up, IPv6 off (no chatter), TX
    checksum offload off (checksums are real on the wire, as in the lab)."""

    def __init__(self, pairs=1, tag=None, mtu=1500):
        self.tag = tag or str(os.getpid())
        self.name = f'{PREFIX}{self.tag}'
        self.pairs = [(f'{PREFIX}{self.tag}a{i}', f'{PREFIX}{self.tag}b{i}') for i in range(pairs)]
        self.mtu = mtu

    def __enter__(self):
        _ip('netns', 'add', self.name)
        try:
            self.run('sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1')
            self.run('sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1')
            for a, b in self.pairs:
                self.run('ip', 'link', 'add', a, 'mtu', str(self.mtu), 'type', 'veth', 'peer', 'name', b,
                         'mtu', str(self.mtu))
                for end in (a, b):
                    self.run('ip', 'link', 'set', end, 'up')
                    self.run('ethtool', '-K', end, 'tx', 'off', check=False)
        except BaseException:
            self.delete()
            raise
        return self

    def __exit__(self, *exc):
        self.delete()

    def delete(self):
        # deleting the namespace deletes the veths inside it
        _ip('netns', 'delete', self.name, check=False)

    def run(self, *cmd, check=True):
        return subprocess.run(['ip', 'netns', 'exec', self.name, *cmd], check=check,
                              capture_output=True, text=True)

    def popen(self, *cmd, **kwargs):
        return subprocess.Popen(['ip', 'netns', 'exec', self.name, *cmd], **kwargs)

    @contextlib.contextmanager
    def entered(self):
        """The calling thread inside the namespace until the block ends (sockets made meanwhile stay
        in it).  Only this thread moves: other threads of the process are unaffected."""
        home = os.open(f'/proc/self/task/{threading.get_native_id()}/ns/net', os.O_RDONLY)
        target = os.open(f'/run/netns/{self.name}', os.O_RDONLY)
        try:
            _setns(target)
            yield self
        finally:
            _setns(home)
            os.close(home)
            os.close(target)
