"""The shuffle_sharding experiment without a lab: the seed's tables in its summary, plots from the
rows alone, and a live part that says it is not built instead of a number."""
import math
from types import SimpleNamespace

import pytest

import experiments
from testbed.bench.params import ParamError, parse

ss = experiments.get('shuffle_sharding')


def rows_for(**overrides):
    params = parse([f'{k}={v}' for k, v in dict(pairs=1500, **overrides).items()], ss.PARAMETERS)
    ctx = SimpleNamespace(params=params, repeat=0, progress=lambda message: None)
    return ss.run(ctx), params


def test_the_summary_holds_the_seeds_tables_and_says_the_live_part_is_not_measured():
    rows, params = rows_for()
    text = '\n'.join(ss.describe(rows, params))
    assert 'exact      17.86 / 53.57 / 26.79 / 1.79' in text
    assert 'exact      76.96 / 21.14 / 1.84 / 0.059 /' in text
    assert 'live (a flooding customer' in text and 'NOT MEASURED' in text
    exact = [r for r in rows if r['method'] == 'exact' and r['fleet'] == '8x3']
    assert [r['fraction'] for r in exact] == ['5/28', '15/28', '15/56', '1/56']


def test_metrics_are_ratios_and_plots_are_drawn_from_rows():
    rows, params = rows_for()
    metrics = ss.summarize(rows, params)
    assert set(metrics) == set(ss.METRICS)
    assert all(isinstance(v, float) and not math.isnan(v) for v in metrics.values())
    assert metrics['full_overlap_vs_same_nodes_8x3'] == pytest.approx(1 / 56)
    assert metrics['no_overlap_sampled_over_exact_100x5'] == pytest.approx(1, abs=0.08)
    assert [name for name, _ in ss.plot(rows, params)] == ['overlap-8x3', 'overlap-100x5']


def test_live_and_bad_fleets_are_one_line_errors():
    with pytest.raises(ParamError, match='live=on: .*NOT MEASURED -- needs the Hyperplane nodes wired'):
        rows_for(live='on')
    with pytest.raises(ParamError, match='fleets=8by3: expected NODESxSHARD_SIZE'):
        rows_for(fleets='8by3')
    with pytest.raises(ParamError, match='between 1 and the number of nodes'):
        rows_for(fleets='3x4')
