"""Settings and counters of the userspace datapath's connection tracker, which all the
bridges of this machine share (so its counters are per datapath, not per physical host)."""
import re
import subprocess


def appctl(*args):
    r = subprocess.run(['ovs-appctl', *args], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError('ovs-appctl {} failed: {}'.format(' '.join(args), r.stderr.strip()))
    return r.stdout


def enable_reassembly():
    """Reassemble IPv4 fragments before conntrack sees them (flow tracking: fragments are
    reassembled for tracking; bogus ones are dropped).  Needs the datapath to exist."""
    appctl('dpctl/ipf-set-enabled', 'v4')
    status = appctl('dpctl/ipf-get-status')
    if not re.search(r'v4 enabled: 1', status):
        raise RuntimeError('IPv4 fragment reassembly did not turn on:\n' + status)


def fragment_drops():
    """{'bogus-fragment': N}: v4 fragments the reassembler refused (overlapping, or too small
    to be a real fragment)."""
    status = appctl('dpctl/ipf-get-status')
    refused = sum(int(n) for n in re.findall(r'v4 frags (?:overlapped|too small):\s*(\d+)', status))
    return {'bogus-fragment': refused}
