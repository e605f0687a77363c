"""The `hyperplane` and `shuffle_sharding` experiments end to end, briefly: every part runs and is
written, and leaves nothing behind (no timing assertions: the figures depend on the machine)."""
import math
import os

from conftest import leftovers

import experiments
from testbed.bench import results, runner


def test_a_short_hyperplane_run_measures_both_paths_and_a_node_loss(tmp_path):
    module = experiments.get('hyperplane')
    path = runner.run(module, ['rounds=1', 'seconds=1', 'tcp_seconds=1', 'pings=150', 'warmup=50'],
                      base=str(tmp_path))
    _, rows = results.load(path)
    for part, key in (('connections', 'per_s'), ('tcp', 'mbps')):
        assert {r['path']: r[key] > 0 for r in rows if r['part'] == part} == {
            'internet-gateway': True, 'nat-gateway': True}
    loss = {r['failed_node'] != '-': r for r in rows if r['part'] == 'node-loss'}
    assert loss[True]['failed_node'].startswith('hp')
    # the ping goes on through the survivor after the failure (warmup replies came before it)
    assert loss[True]['received'] > 50 and loss[False]['received'] > 0
    metrics = runner.redraw(path)
    assert set(metrics) == set(module.METRICS) and not any(math.isnan(v) for v in metrics.values())
    assert {'summary.txt', 'connections.png', 'tcp.png', 'node-loss.png'} <= set(os.listdir(path))
    assert not any(leftovers().values())


def test_a_short_shuffle_sharding_run_has_its_tables_and_both_live_labs(tmp_path):
    module = experiments.get('shuffle_sharding')
    path = runner.run(module, ['fleets=8x3', 'pairs=200', 'seconds=1', 'rounds=1'], base=str(tmp_path))
    _, rows = results.load(path)
    for method in ('exact', 'sampled', 'same-nodes'):
        assert math.isclose(sum(r['percent'] for r in rows if r.get('method') == method), 100)
    live = {(r['variant'], r['phase']): r for r in rows if r.get('part') == 'live'}
    assert set(live) == {(v, ph) for v in ('shuffle', 'same-nodes') for ph in ('quiet', 'flood', 'after')}
    assert live['shuffle', 'quiet']['shared'] == 0 and live['same-nodes', 'quiet']['shared'] == 2
    assert all(r['per_s'] > 0 for (_, phase), r in live.items() if phase == 'quiet')
    assert all(r['flood_sent'] > 0 for (_, phase), r in live.items() if phase == 'flood')
    assert set(runner.redraw(path)) == {m for m in module.METRICS if not m.endswith('_100x5')}
    assert 'live.png' in os.listdir(path)
    assert not any(leftovers().values())
