"""The `edge` experiment end to end, briefly: every comparison runs and is written (no timing
assertions: the figures depend on the machine)."""
import json
import os

import experiments
from testbed.bench import results, runner


def test_a_short_edge_run_measures_every_comparison(tmp_path):
    path = runner.run(experiments.get('edge'), ['rounds=1', 'seconds=0.5', 'tcp_seconds=1'], base=str(tmp_path))
    _, rows = results.load(path)
    assert {(r['part'], r['variant']) for r in rows} == {
        ('pps', 'blackfoot'), ('pps', 'raw-socket'), ('pps', 'ring-copy'), ('tcp', 'internet-gateway'),
        ('tcp', 'cross-host')}
    assert all(r['forwarded_pps'] > 0 for r in rows if r['part'] == 'pps')
    assert all(r['mbps'] > 0 for r in rows if r['part'] == 'tcp')
    print(json.dumps(runner.redraw(path)))
    assert {'summary.txt', 'pps.png', 'tcp.png'} <= set(os.listdir(path))
