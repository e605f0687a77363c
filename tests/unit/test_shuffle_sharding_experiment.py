"""The shuffle_sharding experiment without a lab: the seed's tables in its summary, plots from the
rows alone, and the live part's choice of customers and figures from made-up rows."""
import math
from types import SimpleNamespace

import pytest

import experiments
from experiments import _shuffle_live as live
from testbed.bench.params import ParamError, parse

ss = experiments.get('shuffle_sharding')


def rows_for(**overrides):
    params = parse([f'{k}={v}' for k, v in dict(pairs=1500, live='off', **overrides).items()], ss.PARAMETERS)
    ctx = SimpleNamespace(params=params, repeat=0, progress=lambda message: None)
    return ss.run(ctx), params


def test_the_summary_holds_the_seeds_tables_and_says_when_the_live_part_did_not_run():
    rows, params = rows_for()
    text = '\n'.join(ss.describe(rows, params))
    assert 'exact      17.86 / 53.57 / 26.79 / 1.79' in text
    assert 'exact      76.96 / 21.14 / 1.84 / 0.059 /' in text
    assert 'live: not run (live=off)' in text
    exact = [r for r in rows if r['method'] == 'exact' and r['fleet'] == '8x3']
    assert [r['fraction'] for r in exact] == ['5/28', '15/28', '15/56', '1/56']


def test_metrics_are_ratios_and_plots_are_drawn_from_rows():
    rows, params = rows_for()
    metrics = ss.summarize(rows, params)
    assert set(metrics) == set(ss.METRICS) - set(ss.LIVE_METRICS)
    assert all(isinstance(v, float) and not math.isnan(v) for v in metrics.values())
    assert metrics['full_overlap_vs_same_nodes_8x3'] == pytest.approx(1 / 56)
    assert metrics['no_overlap_sampled_over_exact_100x5'] == pytest.approx(1, abs=0.08)
    assert [name for name, _ in ss.plot(rows, params)] == ['overlap-8x3', 'overlap-100x5']


def test_live_and_bad_fleets_are_one_line_errors():
    with pytest.raises(ParamError, match='live_fleet=4: expected NODESxSHARD_SIZE'):
        rows_for(live_fleet='4')
    with pytest.raises(ParamError, match='fleets=8by3: expected NODESxSHARD_SIZE'):
        rows_for(fleets='8by3')
    with pytest.raises(ParamError, match='between 1 and the number of nodes'):
        rows_for(fleets='3x4')


def test_the_live_victim_shares_the_fewest_nodes_and_the_same_nodes_fleet_shares_all():
    victim = live.pick_victim(4, 2)
    assert live.shared(live.topology(victim, 4, 2), victim) == 0
    assert live.shared(live.topology(victim, 2, 2), victim) == 2


def test_live_figures_from_rows():
    rows, params = rows_for()
    rows += [dict(part='live', variant=v, nodes=n, shard_size=2, shared=s, victim='customer-1', phase=phase,
                  per_s=rate, failed=0, flood_sent=sent)
             for v, n, s, quiet, flooded in (('shuffle', 4, 0, 100.0, 90.0), ('same-nodes', 2, 2, 100.0, 40.0))
             for phase, rate, sent in (('quiet', quiet, 0), ('flood', flooded, 15000), ('after', flooded / 2, 0))]
    metrics = ss.summarize(rows, params)
    assert set(metrics) == set(ss.METRICS)
    assert metrics['live_victim_flood_over_quiet_shuffle'] == pytest.approx(0.9)
    assert metrics['live_victim_flood_over_quiet_same_nodes'] == pytest.approx(0.4)
    assert metrics['live_victim_after_over_quiet_same_nodes'] == pytest.approx(0.2)
    assert 'live, shuffle (4 nodes, 2 per customer; the victim shares 0 with the flooder)' in '\n'.join(
        ss.describe(rows, params))
    assert [name for name, _ in ss.plot(rows, params)][-1] == 'live'
