"""`vpclab trace --wire` beyond the hosts' bridges: what the edge nodes (Blackfoot), the Hyperplane nodes and
an outside host counted of the one packet.

The edge and Hyperplane processes write their counters to the run directory (`edge<k>-counters.json`
about every second, `hp<k>-counters.json` at every housekeeping), so the lab and a second terminal read
them alike; a snapshot after the packet waits until every file has been rewritten since the packet's
fate was counted on the bridges.  An outside host counts what its interfaces received (/proc/net/dev in
its namespace).  Other traffic moves these counters too (an NLB's health checks go through the edge and
the nodes all the time).  The edge's decision is read from the keys that say what became of a packet
(`drop:<reason>`, `out:<link>`, `in:<gateway>`, `relayed`), the host's flows confirm where it went on.
A node counts the traced packet apart (`traced:<verdict>`, by the mark in its payload:
appliances/hyperplane/flows.py TRACE_MARK), and that alone says what the node decided of it."""
import os
import subprocess
import time

from testbed.fabric import edge_plan, hyperplane_plan

FRESH_S = 3.0                      # at most this long for every counters file to be rewritten


def lab_run_dir(lab):
    return getattr(lab, 'run_dir', None) or lab.state.data.get('run_dir')


def appliances(run_dir):
    """{'edge1': handler counters, ..., 'hp1': ...} as the processes last wrote them."""
    written = {**edge_plan.read_counters(run_dir), **hyperplane_plan.read_counters(run_dir)}
    return {name: counters.get('handler', {}) for name, counters in written.items()}


def fresh(run_dir, since, timeout=FRESH_S):
    """appliances(run_dir) once every counters file is newer than `since` (time.time())."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stamps = [e.stat().st_mtime for e in os.scandir(run_dir) if e.name.endswith(edge_plan.COUNTERS_SUFFIX)]
        except OSError:
            break
        if all(s > since for s in stamps):
            break
        time.sleep(0.1)
    return appliances(run_dir)


def delta(before, after):
    """{appliance: {counter: how much it moved}} of the counters that moved."""
    out = {}
    for name, counters in after.items():
        moved = {k: v - before.get(name, {}).get(k, 0) for k, v in counters.items()
                 if isinstance(v, int) and v != before.get(name, {}).get(k, 0)}
        if moved:
            out[name] = moved
    return out


def received(lab, name):
    """Packets node `name`'s interfaces (but lo) have received, or None when it cannot be read."""
    from testbed.commands.inspect import enter
    out = subprocess.run(['nsenter', *enter(lab.state, name), 'cat', '/proc/net/dev'], capture_output=True,
                         text=True, timeout=10)
    if out.returncode:
        return None
    total = 0
    for line in out.stdout.splitlines()[2:]:
        iface, _, fields = line.partition(':')
        if iface.strip() != 'lo' and fields.split():
            total += int(fields.split()[1])
    return total


def edge_decision(moved, kinds=('drop', 'link', 'in')):
    """(kind, what) of what an edge node counted, of the kinds looked for in this order: ('drop', reason),
    ('link', name) for out:<link>, ('in', counter) for in:<gateway> (from outside into a VPC or to a
    node), ('relayed', 'relayed') for a node's packet into a VPC; or None.  The kinds: a packet from a
    VPC goes out or is dropped, from outside comes in or is dropped (the replies it causes move the
    other kind's counters)."""
    found = {'drop': [k[5:] for k in moved if k.startswith('drop:')],
             'link': [k[4:] for k in moved if k.startswith('out:')],
             'in': [k for k in moved if k.startswith('in:')],
             'relayed': [k for k in moved if k == 'relayed']}
    return next(((kind, found[kind][0]) for kind in kinds if found[kind]), None)


def node_decision(moved):
    """(kind, what) of what a Hyperplane node decided of the traced packet (its `traced:` counters):
    ('forward', the counters that say what it did) or ('drop', reason; 'reset' for a TCP reset it
    answered with, as the model says), or None.  A forward first: an echo reply carries the mark too,
    and what became of the reply is not the packet's fate."""
    traced = [k[7:] for k in moved if k.startswith('traced:')]
    if 'forward' in traced:
        did = {k: v for k, v in moved.items() if k in ('out', 'in') or k.startswith('flows')}
        return 'forward', words(did) or 'an existing flow (an NLB counts new flows only)'
    drops = [k[5:] for k in traced if k.startswith('drop:')]
    if drops:
        return 'drop', drops[0]
    return ('drop', 'reset') if 'reply' in traced else None


def words(moved):
    return ', '.join(f'{k} +{v}' for k, v in sorted(moved.items()))
