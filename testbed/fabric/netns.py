"""Network namespaces and veth cables made in-process over netlink (pyroute2): no process per
namespace or interface.

`ip netns add` binds a namespace to a file in /run/netns so that it outlives every process in
it; here one thread does the same (unshare, bind mount) for each instance, then makes its
cable in the same thread: the root end (sealed before it is up, testbed/fabric/isolation.py)
and the namespace end, with its name, MAC, MTU, address and default route, and TX checksum
offload off on both ends (SIOCETHTOOL on a socket of each namespace, no ethtool process).
Namespace changes are per thread, so the caller's thread never leaves the root namespace.
"""
import array
import ctypes
import errno
import fcntl
import ipaddress
import os
import re
import socket
import struct
import threading
from dataclasses import dataclass

NETNS_DIR = '/run/netns'
NETNS_NAME = re.compile(r'[A-Za-z0-9_.-]{1,64}\Z')
CLONE_NEWNET = 0x40000000
MS_BIND, MS_REC, MS_SHARED, MNT_DETACH = 4096, 16384, 1 << 20, 2
SIOCETHTOOL, ETHTOOL_STXCSUM = 0x8946, 0x17
SELF_NS = '/proc/thread-self/ns/net'

_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class Cable:
    """One instance's namespace and cable: `port` in the root namespace, `intf` inside."""
    netns: str
    port: str
    intf: str
    mac: str
    ip: str | None
    prefixlen: int
    gateway: str | None
    mtu: int


def path(name):
    if not NETNS_NAME.match(name or ''):
        raise ValueError(f'{name!r} is not a namespace name')
    return os.path.join(NETNS_DIR, name)


def _check(rc, what):
    if rc != 0:
        code = ctypes.get_errno()
        raise OSError(code, f'{what}: {os.strerror(code)}')


def _share_dir():
    """/run/netns as a shared mount, as iproute2 makes it (so namespace mounts propagate)."""
    os.makedirs(NETNS_DIR, mode=0o755, exist_ok=True)
    target = NETNS_DIR.encode()
    if _libc.mount(b'', target, b'none', MS_SHARED | MS_REC, None) != 0:
        _check(_libc.mount(target, target, b'none', MS_BIND | MS_REC, None), f'bind {NETNS_DIR}')
        _check(_libc.mount(b'', target, b'none', MS_SHARED | MS_REC, None), f'share {NETNS_DIR}')


def tx_checksum_off(sock, ifname):
    """`ethtool -K IFNAME tx off` on the namespace of `sock` (the kernel turns off what depends on it)."""
    value = array.array('I', [ETHTOOL_STXCSUM, 0])
    ifreq = struct.pack('16sP', ifname.encode(), value.buffer_info()[0])
    fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)


def _new_namespace(name):
    """Moves this thread into a new namespace bound at path(name); returns an fd of it."""
    target = path(name)
    os.close(os.open(target, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444))
    _check(_libc.unshare(CLONE_NEWNET), f'unshare for {name}')
    _check(_libc.mount(SELF_NS.encode(), target.encode(), b'none', MS_BIND, None), f'bind {target}')
    return os.open(target, os.O_RDONLY)


def _sysctls(values):
    for key, value in values.items():
        with open(f'/proc/sys/net/{key}', 'w') as f:
            f.write(f'{value}\n')


def _make(cable, root_fd, root_ipr, root_sock, seal, iproute):
    ns_fd = _new_namespace(cable.netns)
    try:
        # before any interface exists, so that the instance never sends IPv6 chatter
        _sysctls({'ipv6/conf/all/disable_ipv6': 1, 'ipv6/conf/default/disable_ipv6': 1})
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as ns_sock, iproute() as ns_ipr:
            ns_ipr.link('set', index=1, state='up')                       # lo
            _check(_libc.setns(root_fd, CLONE_NEWNET), 'back to the root namespace')
            root_ipr.link('add', ifname=cable.port, kind='veth', mtu=cable.mtu,
                          peer={'ifname': cable.intf, 'mtu': cable.mtu, 'address': cable.mac,
                                'net_ns_fd': ns_fd})
            seal([cable.port])
            tx_checksum_off(root_sock, cable.port)
            root_ipr.link('set', ifname=cable.port, state='up')
            tx_checksum_off(ns_sock, cable.intf)
            index = ns_ipr.link_lookup(ifname=cable.intf)[0]
            if cable.ip is not None:            # None: the instance takes it by DHCP
                network = ipaddress.ip_network(f'{cable.ip}/{cable.prefixlen}', strict=False)
                ns_ipr.addr('add', index=index, address=cable.ip, prefixlen=cable.prefixlen,
                            broadcast=str(network.broadcast_address))
            ns_ipr.link('set', index=index, state='up')
            if cable.gateway is not None:
                ns_ipr.route('add', dst='0.0.0.0/0', gateway=cable.gateway, oif=index)
    finally:
        os.close(ns_fd)


def make(cables, seal, iproute=None):
    """Namespaces and cables for `cables` (record them first: a failure leaves some made)."""
    if iproute is None:
        from pyroute2 import IPRoute as iproute
    failure = []

    def work():
        root_fd = os.open(SELF_NS, os.O_RDONLY)
        try:
            with iproute() as root_ipr, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as root_sock:
                for cable in cables:
                    _make(cable, root_fd, root_ipr, root_sock, seal, iproute)
        except BaseException as exc:      # noqa: BLE001  (raised again in the caller's thread)
            failure.append(exc)
        finally:
            _libc.setns(root_fd, CLONE_NEWNET)
            os.close(root_fd)

    _share_dir()
    worker = threading.Thread(target=work, name='vpclab-netns')
    worker.start()
    worker.join()
    if failure:
        raise failure[0]


def remove(names):
    """Unbind namespaces (their interfaces go when the last process in them has exited)."""
    for name in names:
        target = path(name)
        if not os.path.lexists(target):
            continue
        if _libc.umount2(target.encode(), MNT_DETACH) != 0 and ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
            _check(-1, f'unmount {target}')
        try:
            os.unlink(target)
        except FileNotFoundError:
            pass


def delete_links(interfaces, iproute=None):
    """Delete root-namespace interfaces over netlink (a veth takes its peer with it)."""
    if iproute is None:
        from pyroute2 import IPRoute as iproute
    with iproute() as ipr:
        for name in interfaces:
            for index in ipr.link_lookup(ifname=name):
                try:
                    ipr.link('del', index=index)
                except Exception:     # noqa: BLE001  (gone meanwhile)
                    pass


def wait_gone(interfaces, timeout=30.0):
    """Waits until none of `interfaces` exists (the kernel destroys a namespace's interfaces
    after its last reference is gone); returns those still there at the timeout."""
    import time
    deadline = time.monotonic() + timeout
    left = list(interfaces)
    while left:
        left = [i for i in left if os.path.exists(f'/sys/class/net/{i}')]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    return left


def existing(prefix):
    """Namespaces in /run/netns whose names start with `prefix`."""
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(prefix))
    except FileNotFoundError:
        return []
