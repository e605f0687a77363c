"""A physical host's NIC cable made capturable on demand, by whichever process asks.

The NIC cable is a patch port; its capture veth `vl_nic<X>` (testbed/fabric/cables.py) is made by
the first process that asks for it: the lab's own (`lab.nic(X)`, the demo) or a second terminal
(`vpclab capture X`, `vpclab trace --wire --from-host`), so it needs nothing but the bridges and
the lab's names.  It stays until the lab stops: its names were recorded in the run state when the
lab was built, so the lab's cleanup and `vpclab down` remove it.  Two processes asking at once take
turns (`_one_at_a_time`): the second finds the veth made and its flows in.  When the cable is a veth
(`cables='veth'`, a conditioned NIC cable) it is its own capture point, its ToR end the injection
point.
"""
import contextlib
import fcntl
import os

from testbed.fabric import cables, isolation, underlay
from testbed.fabric.names import UNDERLAY_MTU
from testbed.fabric.shell import add_flows, sh, vsctl


def _exists(intf):
    return os.path.exists(f'/sys/class/net/{intf}')


@contextlib.contextmanager
def _one_at_a_time(names):
    """An exclusive lock of the lab's underlay bridge's sysfs directory: it lives exactly as long
    as the lab, so the lock needs no file of its own to clean up."""
    fd = os.open(f'/sys/class/net/{names.underlay()}', os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)           # and the lock with it


def capture_point(names, host):
    """The interface on which tcpdump sees `host`'s NIC cable (a PhysicalHost), made if missing."""
    outer, inner = cables.capture_names(names, host)
    ul0 = names.underlay()
    with _one_at_a_time(names):
        if _exists(outer):
            return outer
        with open(f'/sys/class/net/{ul0}/address') as f:
            ul0_mac = f.read().strip()
        sh(f'ip link add {outer} mtu {UNDERLAY_MTU} type veth peer name {inner} mtu {UNDERLAY_MTU}')
        isolation.seal([outer, inner])
        sh(f'ip link set {inner} up && ip link set {outer} up')
        vsctl(*cables.capture_args(ul0, inner, host))
        add_flows(ul0, underlay.capture_flows(host, ul0_mac, cables.capture_port(host)))
    return outer


def injection_point(names, host):
    """The interface where a frame sent arrives at `host`'s NIC as if from its ToR."""
    tor_end = names.tor_port(host)
    return tor_end if _exists(tor_end) else capture_point(names, host)

