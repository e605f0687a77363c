"""The regression comparison: ratios against the baseline's, per-metric tolerances,
and a deliberately regressed result that must fail."""
import io
import math
import os

import pytest
from bench_samples import SAMPLES, params

import experiments
from testbed.bench import regress, results, runner
from testbed.bench.metric import Metric

SPECS = {'tput': Metric('higher', 0.3, 'throughput / plain'),
         'rtt': Metric('lower', 0.5, 'first / second RTT'),
         'leak': Metric('lower', 0.0, 'attack packets through')}
BASE = {'tput': 0.7, 'rtt': 2.0, 'leak': 0.0}


def statuses(current, baseline=BASE):
    return {r[0]: r[5] for r in regress.compare(baseline, current, SPECS)}


def test_within_tolerance_is_ok_and_much_better_is_improved():
    assert statuses({'tput': 0.55, 'rtt': 2.9, 'leak': 0.0}) == \
        dict(tput=regress.OK, rtt=regress.OK, leak=regress.OK)
    assert statuses({'tput': 1.0, 'rtt': 0.5, 'leak': 0.0})['tput'] == regress.IMPROVED


def test_worse_than_tolerance_in_the_metrics_own_direction_regresses():
    got = statuses({'tput': 0.45, 'rtt': 3.1, 'leak': 0.01})
    assert got == dict(tput=regress.REGRESSED, rtt=regress.REGRESSED, leak=regress.REGRESSED)
    rows = regress.compare(BASE, {'tput': 0.45, 'rtt': 2.0, 'leak': 0.0}, SPECS)
    assert [r[0] for r in regress.failed(rows)] == ['tput']


def test_a_vanished_or_broken_metric_fails_and_a_new_one_does_not():
    got = statuses({'tput': 0.7, 'rtt': float('nan'), 'extra': 1.0})
    assert got == dict(tput=regress.OK, rtt=regress.MISSING, leak=regress.MISSING,
                       extra=regress.NEW)


def test_the_table_shows_every_metric_with_its_change_and_tolerance():
    text = regress.table(regress.compare(BASE, {'tput': 0.35, 'rtt': 2.0, 'leak': 0.0}, SPECS))
    line = next(l for l in text.splitlines() if l.startswith('tput'))
    assert '0.700' in line and '0.350' in line and '-50%' in line and '30%' in line
    assert line.endswith('REGRESSED')


def test_quick_parameters_are_written_as_the_cli_takes_them():
    pairs = regress.quick_pairs(experiments.get('convergence'))
    assert 'holders=0,2' in pairs and 'repeats=1' in pairs


def test_every_suite_metric_has_a_spec_with_a_direction():
    for name in regress.SUITE:
        for metric, spec in experiments.get(name).METRICS.items():
            assert spec.better in ('higher', 'lower') and spec.tolerance >= 0, (name, metric)


def _suite_result(tmp_path, name, rows):
    module = experiments.get(name)
    path = results.new_dir(name, str(tmp_path))
    meta = dict(experiment=name, description=module.DESCRIPTION, params=params(name),
                machine=results.machine(), conditions={}, started='x', duration_s=0)
    results.write(path, meta, rows)
    return {f'{name}.{k}': v for k, v in runner.draw(path, module, meta, rows).items()}, \
        {f'{name}.{k}': s for k, s in module.METRICS.items()}


def test_a_deliberately_regressed_result_fails_against_its_baseline(tmp_path, monkeypatch):
    """A baseline from sample data, then the same data with the encapsulated paths at
    half speed and one attack getting through: regress must exit 1 on exactly those."""
    good_tp, specs = _suite_result(tmp_path, 'throughput', SAMPLES['throughput']())
    good_iso, iso_specs = _suite_result(tmp_path, 'isolation', SAMPLES['isolation']())
    specs.update(iso_specs)
    baseline = os.path.join(str(tmp_path), 'baselines', 'quick.json')
    regress.save_baseline(dict(good_tp, **good_iso), str(tmp_path), baseline)

    slow = [dict(r, mbps=r['mbps'] / 2) if r['path'] in ('cross-host', 'cross-rack') else r
            for r in SAMPLES['throughput']()]
    leaky = SAMPLES['isolation']()
    leaky[0] = dict(leaky[0], delivered=1)
    bad_tp, _ = _suite_result(tmp_path, 'throughput', slow)
    bad_iso, _ = _suite_result(tmp_path, 'isolation', leaky)

    rows = regress.compare(regress.load_baseline(baseline)['metrics'],
                           dict(bad_tp, **bad_iso), specs)
    failed = sorted(r[0] for r in regress.failed(rows))
    assert failed == sorted(['isolation.attack_leak_fraction'] +
                            [f'throughput.{p}_{path}{over}_{m}' for p in ('tcp', 'udp')
                             for path in ('cross_host', 'cross_rack') for m in (1500, 9001)
                             for over in ('', '_over_same_host')])
    assert all(r[5] == regress.OK for r in rows if r[0] not in failed)

    # and end to end through main(), with the suite replaced by the regressed results
    monkeypatch.setattr(regress, 'run_suite', lambda base, names: (dict(bad_tp, **bad_iso), specs))
    monkeypatch.setattr(results, 'RESULTS', str(tmp_path))
    out = io.StringIO()
    assert regress.main(names=('throughput', 'isolation'), baseline=baseline, out=out) == 1
    assert 'FAIL' in out.getvalue() and 'REGRESSED' in out.getvalue()
    monkeypatch.setattr(regress, 'run_suite', lambda base, names: (dict(good_tp, **good_iso), specs))
    assert regress.main(names=('throughput', 'isolation'), baseline=baseline, out=io.StringIO()) == 0


def test_updating_part_of_the_suite_keeps_the_rest_of_the_baseline(tmp_path, monkeypatch):
    baseline = str(tmp_path / 'quick.json')
    regress.save_baseline({'scale.a': 1.0, 'latency.b': 2.0}, str(tmp_path), baseline)
    monkeypatch.setattr(regress, 'run_suite', lambda base, names: ({'scale.a': 3.0}, {}))
    monkeypatch.setattr(results, 'RESULTS', str(tmp_path))
    assert regress.main(update=True, names=('scale',), baseline=baseline, out=io.StringIO()) == 0
    assert regress.load_baseline(baseline)['metrics'] == {'scale.a': 3.0, 'latency.b': 2.0}


def test_no_baseline_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='regress --update'):
        regress.main(baseline=str(tmp_path / 'none.json'))


def test_ratios_never_divide_raw_times_across_runs():
    """Each metric is computed within one result: scaling every time in a run by the
    same factor (a slower machine) leaves it unchanged."""
    rows = SAMPLES['latency']()
    slower = [dict(r, rtt_ms=None if r['rtt_ms'] is None else r['rtt_ms'] * 3) for r in rows]
    module = experiments.get('latency')
    a, b = module.summarize(rows, params('latency')), module.summarize(slower, params('latency'))
    assert all(math.isclose(a[k], b[k]) for k in a)


def test_several_runs_give_medians_and_each_metrics_worst_deviation():
    runs = [{'a': 1.0, 'b': 2.0}, {'a': 1.2, 'b': float('nan')}, {'a': 0.9, 'b': 2.2, 'c': 5.0}]
    assert regress.medians(runs) == {'a': 1.0, 'b': pytest.approx(2.1), 'c': 5.0}
    got = regress.spread(runs)
    assert got['a'] == (1.0, 0.9, 1.2, pytest.approx(0.2))
    assert got['c'] == (5.0, 5.0, 5.0, 0.0)
    text = regress.spread_table(runs, {'a': Metric('lower', 0.3, 'x')})
    assert '20%' in text.splitlines()[1] and '30%' in text.splitlines()[1]


def test_main_with_runs_compares_the_medians(tmp_path, monkeypatch):
    baseline = os.path.join(str(tmp_path), 'quick.json')
    regress.save_baseline({'scale.a': 1.0}, str(tmp_path), baseline)
    got = iter([{'scale.a': 9.0}, {'scale.a': 1.1}, {'scale.a': 1.0}])
    specs = {'scale.a': Metric('lower', 0.2, 'x')}
    monkeypatch.setattr(regress.results, 'RESULTS', str(tmp_path))
    monkeypatch.setattr(regress, 'run_suite', lambda base, names: (next(got), specs))
    out = io.StringIO()
    assert regress.main(names=('scale',), baseline=baseline, out=out, runs=3) == 0   # one outlier of 3
    assert 'spread' in out.getvalue()
