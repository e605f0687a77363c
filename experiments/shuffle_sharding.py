"""Shuffle sharding (seed 002): how many Hyperplane nodes two customers share, exactly and sampled.

Each customer's resource is served by `shard_size` of the `nodes`, chosen from its id
(testbed/appliances/hyperplane/sharding.py).  The exact distribution of the overlap between two
customers' shards is hypergeometric, C(k, j) C(n - k, k - j) / C(n, k); the sampled one draws
random resource ids and intersects the shards the real assignment function gives them.  The
baseline, in the same run, is every customer on the same nodes: overlap k, always.

    vpclab run shuffle_sharding fleets=8x3,100x5 pairs=20000

The live part of the issue (a flooding customer measured in a real lab, with shuffle sharding and
with every customer on the same nodes) needs the Hyperplane nodes wired into the fabric and the
controller, which is not built yet: `live=on` says so and stops; no number stands in for it.
"""
from testbed.appliances.hyperplane import sharding
from testbed.bench import plots
from testbed.bench.metric import Metric
from testbed.bench.params import ParamError

DESCRIPTION = 'shuffle sharding: overlap of two customers\' shards, exact (hypergeometric) and sampled'
PARAMETERS = dict(repeats=1, fleets=['8x3', '100x5'], pairs=20000, seed=0, live=False)
QUICK = dict(pairs=2000)
FLEETS = ('8x3', '100x5')
METRICS = {}
for _f in FLEETS:
    METRICS[f'no_overlap_sampled_over_exact_{_f}'] = Metric(
        'higher', 0.15, f'{_f}: P(no shared node), sampled over the real shards / exact')
    METRICS[f'full_overlap_vs_same_nodes_{_f}'] = Metric(
        'lower', 0.0, f'{_f}: P(two customers share every node), shuffle sharding / all on the same nodes')
LIVE_NOT_BUILT = ('live (a flooding customer, with and without shuffle sharding): NOT MEASURED -- needs the '
                  'Hyperplane nodes wired into the fabric and controller (testbed/appliances/hyperplane/README.md)')


def fleet(text):
    nodes, _, size = text.partition('x')
    try:
        n, k = int(nodes), int(size)
    except ValueError:
        raise ParamError(f'fleets={text}: expected NODESxSHARD_SIZE, like fleets=8x3,100x5') from None
    if not 0 < k <= n:
        raise ParamError(f'fleets={text}: the shard size must be between 1 and the number of nodes')
    return n, k


def run(ctx):
    p = ctx.params
    if p['live']:
        raise ParamError(f'live=on: {LIVE_NOT_BUILT}')
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
    return rows


def _percent(rows, fleet_, method, overlap):
    values = [r['percent'] for r in rows if (r['fleet'], r['method'], r['overlap']) == (fleet_, method, overlap)]
    return sum(values) / len(values) if values else None


def summarize(rows, params):
    out = {}
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
    lines = []
    for f in dict.fromkeys(r['fleet'] for r in rows):
        k = next(r['shard_size'] for r in rows if r['fleet'] == f)
        lines.append(f'{f} (nodes x shard size): share 0..{k} nodes with another customer, %')
        for method in ('exact', 'sampled', 'same-nodes'):
            cells = ' / '.join(_digits(_percent(rows, f, method, j)) for j in range(k + 1))
            pairs = next((r['pairs'] for r in rows if r['fleet'] == f and r['method'] == method), None)
            lines.append(f'  {method:<10} {cells}' + (f'   ({pairs} pairs)' if pairs else ''))
    lines.append(LIVE_NOT_BUILT)
    return lines


def plot(rows, params):
    figures = []
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
    return figures
