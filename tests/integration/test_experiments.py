"""Experiments end to end on a real lab: the files a run writes, the delay line on the
underlay, and the plain Open vSwitch baseline path, each leaving nothing behind."""
import os
import signal
import statistics
import subprocess
import sys

from conftest import ROOT, leftovers

import experiments
from testbed.bench import results, runner, topogen
from testbed.fabric import links
from testbed.fabric.plain import PlainNetwork
from testbed.fabric.runstate import alive
from testbed.lab import Lab
from testbed.observe.journey import ping

DELAY_MS = 3.0


def test_a_short_latency_run_writes_data_summary_and_plots_over_a_delayed_underlay(tmp_path):
    path = runner.run(experiments.get('latency'),
                      ['modes=proactive', 'instances_per_host=2', 'count=5', 'first_samples=4',
                       f'delay_ms={DELAY_MS:g}'], base=str(tmp_path))
    files = set(os.listdir(path))
    assert {'meta.json', 'data.csv', 'data.json', 'summary.txt', 'rtt-by-path.png',
            'rtt-by-path.svg', 'first-packet.png', 'first-packet.svg'} <= files
    meta, rows = results.load(path)
    expected = links.NETEM if links.netem_available() else links.DELAYLINE
    assert meta['conditions']['link_conditioning'] == expected
    assert meta['params']['delay_ms'] == DELAY_MS and meta['machine']['kernel']
    with open(os.path.join(path, 'summary.txt')) as f:
        assert f'link delay/loss: {expected}' in f.read()
    warm = {p: [r['rtt_ms'] for r in rows if r['kind'] == 'warm' and r['path'] == p]
            for p in ('same-host', 'cross-rack')}
    # across racks a packet crosses two uplinks each way; within a host none (the median: one
    # ping on a loaded machine can take longer than a delay, a delayed path never less than 2)
    assert min(warm['cross-rack']) >= 4 * DELAY_MS
    assert statistics.median(warm['same-host']) < 2 * DELAY_MS
    assert runner.redraw(path)['cross_rack_over_same_host'] > 4


def test_the_plain_path_beside_a_lab_is_recorded_and_removed():
    topo = topogen.generate('plain-check', 1, 1, {'blue': ['r1-h1', 'r1-h1']})
    with Lab(topo) as lab:
        with PlainNetwork(lab.state.add, lab.names, hosts=2, mtu=9001) as plain:
            assert 'vl_plain' in lab.state.data['bridges']
            assert {'vl_pp1', 'vl_pp2'} <= set(lab.state.data['interfaces'])
            assert ping(plain.host(1), plain.ip(2), count=2)[0] == 2
            assert '9001' in plain.host(1).cmd('cat /sys/class/net/eth0/mtu')
        assert not os.path.exists('/sys/class/net/vl_pp1')
    assert not any(leftovers().values())


def test_delay_lines_stop_with_their_lab():
    topo = topogen.generate('delay-check', 2, 1, {'blue': ['r1-h1', 'r2-h1']},
                            links={'nic': dict(delay_ms=1, loss_percent=0)})
    with Lab(topo) as lab:
        procs = [proc for _, proc in lab.network.links.processes]
        rtts = ping(lab.node('blue-1'), topo.instance('blue-2').ip, count=3)[1]
        assert lab.network.links.method != links.NONE and min(rtts) >= 4 * 1
        conditioner = lab.network.links
    assert procs or conditioner.method == links.NETEM
    assert not any(alive(p.pid, links.DELAYLINE_MODULE) for p in procs)
    if procs:
        assert all(c and sum(c['forwarded']) > 0 for c in conditioner.counters.values())


CRASHING_LAB = '''
import sys
from testbed.bench import topogen
from testbed.fabric.plain import PlainNetwork
from testbed.lab import Lab
lab = Lab(topogen.generate('crash', 2, 1, {'blue': ['r1-h1', 'r2-h1']},
                           links={'uplink': dict(delay_ms=1, loss_percent=0)}))
lab.start()
PlainNetwork(lab.state.add, lab.names, hosts=2).build()
print(' '.join(str(p.pid) for _, p in lab.network.links.processes), flush=True)
sys.stdin.read()
'''


def test_down_removes_delay_lines_and_the_plain_path_a_killed_run_left():
    proc = subprocess.Popen([sys.executable, '-c', CRASHING_LAB], cwd=ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    delay_lines = [int(pid) for pid in proc.stdout.readline().split()]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 'vl_plain' in leftovers()['bridges']
    assert links.netem_available() or any(alive(p, links.DELAYLINE_MODULE) for p in delay_lines)
    out = subprocess.run([sys.executable, '-m', 'testbed.commands.cli', 'down'], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert not any(leftovers().values()), leftovers()
    assert not any(alive(p, links.DELAYLINE_MODULE) for p in delay_lines)
