"""Shuffle sharding (seed 002): how many Hyperplane nodes two customers share, exactly and sampled.

Each customer's resource is served by `shard_size` of the `nodes`, chosen from its id
(testbed/appliances/hyperplane/sharding.py).  The exact distribution of the overlap between two
customers' shards is hypergeometric, C(k, j) C(n - k, k - j) / C(n, k); the sampled one draws
random resource ids and intersects the shards the real assignment function gives them.  The
baseline, in the same run, is every customer on the same nodes: overlap k, always.

    vpclab run shuffle_sharding fleets=8x3,100x5 pairs=20000

Live (`live=on`, the default; experiments/_shuffle_live.py): a customer floods its NAT gateway while
another opens TCP connections through its own, in a real lab with shuffle sharding (`live_fleet`,
the victim sharing the fewest nodes with the flooder) and in one with every customer on the same
`shard_size` nodes, in the same run; the figures are the victim's connections per second during the
flood, and right after it, over alone, in each.  `live=off` computes the tables only (no root needed).
"""
from experiments import _shuffle_live as live
from testbed.appliances.hyperplane import sharding
from testbed.bench import plots
from testbed.bench.metric import Metric
from testbed.bench.params import ParamError

DESCRIPTION = 'shuffle sharding: overlap of two customers\' shards, exact (hypergeometric) and sampled'
PARAMETERS = dict(repeats=1, fleets=['8x3', '100x5'], pairs=20000, seed=0, live=True, live_fleet='4x2',
                  seconds=4.0, rate=20000, rounds=2)
QUICK = dict(pairs=2000, seconds=3.0, rounds=1)
FLEETS = ('8x3', '100x5')
METRICS = {}
for _f in FLEETS:
    METRICS[f'no_overlap_sampled_over_exact_{_f}'] = Metric(
        'higher', 0.15, f'{_f}: P(no shared node), sampled over the real shards / exact')
    METRICS[f'full_overlap_vs_same_nodes_{_f}'] = Metric(
        'lower', 0.0, f'{_f}: P(two customers share every node), shuffle sharding / all on the same nodes')
LIVE_METRICS = {
    'live_victim_flood_over_quiet_shuffle': Metric(
        'higher', 0.5, "live, shuffle sharding: the victim's connections/s during another customer's flood / alone"),
    'live_victim_flood_over_quiet_same_nodes': Metric(
        'higher', 0.5, "live, every customer on the same nodes: the victim's connections/s during the flood / alone"),
    'live_victim_after_over_quiet_shuffle': Metric(
        'higher', 0.5, "live, shuffle sharding: the victim's connections/s right after the flood / alone"),
    'live_victim_after_over_quiet_same_nodes': Metric(
        'higher', 0.5, "live, every customer on the same nodes: the victim's connections/s right after the flood "
        '/ alone'),
}
METRICS.update(LIVE_METRICS)


def fleet(text, key='fleets'):
    nodes, _, size = text.partition('x')
    try:
        n, k = int(nodes), int(size)
    except ValueError:
        raise ParamError(f'{key}={text}: expected NODESxSHARD_SIZE, like fleets=8x3,100x5') from None
    if not 0 < k <= n:
        raise ParamError(f'{key}={text}: the shard size must be between 1 and the number of nodes')
    return n, k


def run(ctx):
    p = ctx.params
    fleet(p['live_fleet'], 'live_fleet')    # a bad one fails before the tables are computed
    rows = []
    for text in p['fleets']:
        n, k = fleet(text)
        ctx.progress(f'{text}: exact, then {p["pairs"]} sampled pairs')
        exact = sharding.overlap_distribution(n, k)
        sampled = sharding.sampled_overlap(n, k, p['pairs'], seed=p['seed'] + ctx.repeat)
        for j in range(k + 1):
            base = dict(fleet=text, nodes=n, shard_size=k, overlap=j)
            rows += [dict(base, method='exact', percent=float(exact[j]) * 100,
                          fraction=f'{exact[j].numerator}/{exact[j].denominator}', pairs=None),
                     dict(base, method='sampled', percent=sampled[j] * 100, fraction=None, pairs=p['pairs']),
                     dict(base, method='same-nodes', percent=100.0 if j == k else 0.0, fraction=None, pairs=None)]
    if p['live']:
        rows += live.run(ctx, *fleet(p['live_fleet'], 'live_fleet'))
    return rows


def _tables(rows):
    return [r for r in rows if 'fleet' in r]


def _percent(rows, fleet_, method, overlap):
    values = [r['percent'] for r in rows if (r['fleet'], r['method'], r['overlap']) == (fleet_, method, overlap)]
    return sum(values) / len(values) if values else None


def summarize(rows, params):
    out = {}
    if any(r.get('part') == 'live' for r in rows):
        for phase in ('flood', 'after'):
            for variant in ('shuffle', 'same-nodes'):
                out[f'live_victim_{phase}_over_quiet_{variant.replace("-", "_")}'] = live.ratio(rows, variant, phase)
    rows = _tables(rows)
    for f in dict.fromkeys(r['fleet'] for r in rows):
        k = next(r['shard_size'] for r in rows if r['fleet'] == f)
        exact0, sampled0 = _percent(rows, f, 'exact', 0), _percent(rows, f, 'sampled', 0)
        if exact0:
            out[f'no_overlap_sampled_over_exact_{f}'] = sampled0 / exact0
        out[f'full_overlap_vs_same_nodes_{f}'] = _percent(rows, f, 'exact', k) / _percent(rows, f, 'same-nodes', k)
    return out


def _digits(value):
    return f'{value:.3f}' if value < 0.1 else f'{value:.2f}'


def describe(rows, params):
    lines, live_rows, rows = [], rows, _tables(rows)
    for f in dict.fromkeys(r['fleet'] for r in rows):
        k = next(r['shard_size'] for r in rows if r['fleet'] == f)
        lines.append(f'{f} (nodes x shard size): share 0..{k} nodes with another customer, %')
        for method in ('exact', 'sampled', 'same-nodes'):
            cells = ' / '.join(_digits(_percent(rows, f, method, j)) for j in range(k + 1))
            pairs = next((r['pairs'] for r in rows if r['fleet'] == f and r['method'] == method), None)
            lines.append(f'  {method:<10} {cells}' + (f'   ({pairs} pairs)' if pairs else ''))
    return lines + (live.describe(live_rows) or ['live: not run (live=off)'])


def plot(rows, params):
    figures, live_rows, rows = [], rows, _tables(rows)
    for f in dict.fromkeys(r['fleet'] for r in rows):
        k = next(r['shard_size'] for r in rows if r['fleet'] == f)
        fig, ax = plots.figure(6.4, 4.0)
        width = 0.27
        for i, (method, color) in enumerate((('exact', 'tab:blue'), ('sampled', 'tab:orange'),
                                             ('same-nodes', 'tab:red'))):
            xs = [j + (i - 1) * width for j in range(k + 1)]
            ax.bar(xs, [_percent(rows, f, method, j) for j in range(k + 1)], width, color=color, label=method)
        ax.set_yscale('symlog', linthresh=0.01)
        ax.set(xticks=range(k + 1), xlabel='nodes shared by two customers', ylabel='% of customer pairs',
               title=f'Shuffle sharding, {f.replace("x", " nodes, ")} per customer')
        ax.legend()
        figures.append((f'overlap-{f}', fig))
    if any(r.get('part') == 'live' for r in live_rows):
        fig, ax = plots.figure()
        variants = [v for v in ('shuffle', 'same-nodes') if any(r.get('variant') == v for r in live_rows)]
        labels = [live.label(live_rows, v) for v in variants]
        width, top = 0.38, 1.0
        for i, (phase, color) in enumerate((('flood', 'tab:red'), ('after', 'tab:orange'))):
            xs = [j + (i - 0.5) * width for j in range(len(variants))]
            values = [live.ratio(live_rows, v, phase) for v in variants]
            top = max([top] + [v for v in values if v == v])
            bars = ax.bar(xs, values, width, color=color,
                          label='during the flood' if phase == 'flood' else 'right after it')
            ax.bar_label(bars, fmt='%.2f')
        ax.set_xticks(range(len(variants)), labels)
        ax.axhline(1, color='grey', linestyle=':', label='alone (before any flood)')
        ax.set(ylabel="victim's connections/s / alone", title='A flooding customer, live', ylim=(0, top * 1.3))
        ax.legend()
        figures.append(('live', fig))
    return figures
