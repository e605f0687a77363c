"""Regression runs: the quick suite, compared with results/baselines/quick.json.

Every metric is a ratio to a baseline measured in the same run (a plain Open vSwitch
path, the second packet of the same ping, a migration no cache holds ...), so that a
slower or busier machine does not look like a regression; each metric's tolerance is a
relative change of that ratio (testbed/bench/metric.py).
"""
import json
import math
import os
import sys

from testbed.bench import results, runner

SUITE = ('latency', 'throughput', 'convergence', 'scale', 'isolation', 'hyperplane', 'edge')
BASELINE = os.path.join(results.RESULTS, 'baselines', 'quick.json')
OK, REGRESSED, IMPROVED, NEW, MISSING = 'ok', 'REGRESSED', 'improved', 'new', 'MISSING'


def quick_pairs(module):
    return ['{}={}'.format(k, ','.join(map(str, v)) if isinstance(v, (list, tuple)) else v)
            for k, v in module.QUICK.items()]


def run_suite(base, names=SUITE, out=sys.stderr):
    """Runs each experiment with its QUICK parameters under `base`; returns
    ({experiment.metric: value}, {experiment.metric: Metric})."""
    import experiments
    values, specs = {}, {}
    for name in names:
        module = experiments.get(name)
        path = runner.run(module, quick_pairs(module), base=base, out=out)
        print(f'{name}: {path}', file=out, flush=True)
        for metric, value in runner.redraw(path).items():
            values[f'{name}.{metric}'] = value
        specs.update({f'{name}.{m}': spec for m, spec in module.METRICS.items()})
    return values, specs


def medians(runs):
    """{metric: median} over several suite runs' {metric: value} (a run that lacks a metric
    or has NaN for it does not count for that metric)."""
    import statistics
    out = {}
    for metric in sorted({m for run in runs for m in run}):
        got = [run[metric] for run in runs if metric in run and not _bad(run[metric])]
        out[metric] = statistics.median(got) if got else float('nan')
    return out


def spread(runs):
    """{metric: (median, min, max, worst relative deviation from the median)}: how far one run
    strays, which is what a metric's tolerance must allow (docs/experiments.md)."""
    out = {}
    for metric, mid in medians(runs).items():
        got = [run[metric] for run in runs if metric in run and not _bad(run[metric])]
        if got:
            worst = max(abs(v - mid) for v in got) / abs(mid) if mid else 0.0
            out[metric] = (mid, min(got), max(got), worst)
    return out


def spread_table(runs, specs):
    lines = [f'{"metric (ratio)":<46} {"median":>8} {"min":>8} {"max":>8} {"spread":>7} {"tol":>5}']
    for metric, (mid, low, high, worst) in spread(runs).items():
        tol = specs[metric].tolerance if metric in specs else float('nan')
        lines.append(f'{metric:<46} {mid:8.3f} {low:8.3f} {high:8.3f} {worst * 100:6.0f}% {tol * 100:4.0f}%')
    return '\n'.join(lines)


def compare(baseline, current, specs):
    """One row per metric: (metric, baseline, current, change, tolerance, status).
    change is current/baseline - 1; a metric gets worse in the direction its spec says."""
    rows = []
    for metric in sorted(set(baseline) | set(current)):
        spec = specs.get(metric)
        base, now = baseline.get(metric), current.get(metric)
        if base is None:
            rows.append((metric, None, now, None, spec.tolerance if spec else None, NEW))
            continue
        if now is None or spec is None or _bad(now):
            rows.append((metric, base, now, None, spec.tolerance if spec else None, MISSING))
            continue
        worse = now - base if spec.better == 'lower' else base - now
        allowed = abs(base) * spec.tolerance
        change = now / base - 1 if base else (0.0 if now == base else math.inf)
        status = REGRESSED if worse > allowed + 1e-12 else (IMPROVED if worse < -allowed else OK)
        rows.append((metric, base, now, change, spec.tolerance, status))
    return rows


def _bad(value):
    return not isinstance(value, (int, float)) or math.isnan(value)


def failed(rows):
    return [r for r in rows if r[5] in (REGRESSED, MISSING)]


def table(rows):
    def num(v, fmt):
        return fmt.format(v) if isinstance(v, (int, float)) and math.isfinite(v) else str(v)
    lines = [f'{"metric (ratio)":<46} {"baseline":>10} {"now":>10} {"change":>8} {"tol":>6}  status']
    for metric, base, now, change, tol, status in rows:
        lines.append(f'{metric:<46} {num(base, "{:.3f}"):>10} {num(now, "{:.3f}"):>10} '
                     f'{num(change * 100 if change is not None else None, "{:+.0f}%"):>8} '
                     f'{num(tol * 100 if tol is not None else None, "{:.0f}%"):>6}  {status}')
    return '\n'.join(lines)


def load_baseline(path=BASELINE):
    with open(path) as f:
        return json.load(f)


def save_baseline(values, suite_dir, path=BASELINE):
    data = dict(metrics=values, machine=results.machine(), suite_dir=os.path.relpath(
        suite_dir, results.ROOT))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(data, f, indent=1, sort_keys=True)


def main(update=False, names=SUITE, baseline=BASELINE, out=sys.stdout, runs=1):
    """Runs the suite `runs` times and compares each metric's median (or, with update, makes
    the medians the baseline).  Returns the exit code: 0 ok, 1 regression."""
    if not update and not os.path.exists(baseline):
        raise FileNotFoundError(f'no baseline at {baseline}: run `vpclab regress --update` first')
    suite_dir = results.new_dir('regress', results.RESULTS)
    every = []
    for n in range(runs):
        values, specs = run_suite(suite_dir if runs == 1 else os.path.join(suite_dir, f'run-{n + 1}'), names)
        every.append(values)
    if runs > 1:
        values = medians(every)
        text = spread_table(every, specs)
        with open(os.path.join(suite_dir, 'spread.txt'), 'w') as f:
            f.write(text + '\n')
        print(text + '\n', file=out)
    if update:
        if os.path.exists(baseline):     # --only: the other experiments keep their figures
            kept = {k: v for k, v in load_baseline(baseline)['metrics'].items()
                    if k.split('.')[0] not in names}
            values = dict(kept, **values)
        save_baseline(values, suite_dir, baseline)
        print(f'baseline updated: {baseline} ({len(values)} metrics)', file=out)
        return 0
    expected = {k: v for k, v in load_baseline(baseline)['metrics'].items()
                if k.split('.')[0] in names}
    rows = compare(expected, values, specs)
    text = table(rows)
    with open(os.path.join(suite_dir, 'regress.txt'), 'w') as f:
        f.write(text + '\n')
    print(text, file=out)
    bad = failed(rows)
    print(f'\n{"FAIL" if bad else "ok"}: {len(rows)} metrics, {len(bad)} regressed or missing ({suite_dir})',
          file=out)
    return 1 if bad else 0
