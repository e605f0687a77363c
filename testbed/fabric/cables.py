"""Underlay cables between the fabric's bridges: OVS patch ports, and capture points on them.

All the bridges of a lab live in one ovs-vswitchd, so a cable between two of them can be a
patch port pair: a packet crossing it is translated through both bridges' flows into one
datapath flow, with no syscall, no extra poll and no copy (a veth pair costs a send, a
poll and a receive per hop: cross-rack RTT was 3-7x same-host, cross-rack TCP about half).
Where a topology conditions a kind of cable (delay, loss), that kind stays a veth pair, as
netem and the delay line need one (testbed/fabric/links.py).

A patch port is no kernel interface, so tcpdump cannot open it.  A host's NIC cable is made
capturable on demand (testbed/fabric/nic_capture.py: `Lab.nic(host)`, `vpclab capture HOST` from
a second terminal): a veth pair whose inner end joins ul0, and ul0's flows for that host copy
both directions of the cable to it (underlay.capture_flows); its outer end carries the cable's
usual name (`vl_nic<X>`), so `tcpdump -i vl_nic<X>` shows what crosses the cable.  Frames sent
into `vl_nic<X>` arrive at host X as if from its ToR (forged packets).  OVS mirrors do not see
packets that cross a patch port inside a tunnel's translation, so the copies are flows; they
cost a send per packet, only while the capture exists.
"""
from dataclasses import dataclass

PATCH, VETH = 'patch', 'veth'
CAPTURE_OFPORT_BASE = 50000     # ul0's ports of capture veths


@dataclass(frozen=True)
class Patch:
    """One cable as a patch port pair: (bridge, OpenFlow port, port name) at each end."""
    bridge1: str
    port1: int
    name1: str
    bridge2: str
    port2: int
    name2: str


def patch_args(patch):
    """ovs-vsctl arguments that add both ends of `patch` at the given OpenFlow ports."""
    out = []
    for bridge, port, name, peer in ((patch.bridge1, patch.port1, patch.name1, patch.name2),
                                     (patch.bridge2, patch.port2, patch.name2, patch.name1)):
        out += ['--', 'add-port', bridge, name, '--', 'set', 'interface', name, 'type=patch',
                f'options:peer={peer}', f'ofport_request={port}']
    return out


def capture_names(names, host):
    """(outer end that tcpdump opens, inner end on ul0) of a host's NIC capture veth."""
    return names.nic(host), names.nic_mirror(host)


def capture_port(host):
    """ul0's OpenFlow port of a host's capture veth (no flow of the fabric names it otherwise)."""
    return CAPTURE_OFPORT_BASE + host.index


def capture_args(bridge, inner, host):
    """ovs-vsctl arguments that add a capture veth's inner end to ul0 at its port."""
    return ['--', 'add-port', bridge, inner, '--', 'set', 'interface', inner,
            f'ofport_request={capture_port(host)}']
