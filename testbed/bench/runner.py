"""Runs an experiment: its repeats, progress on stderr, then the result directory with
data, summary and plots."""
import contextlib
import datetime
import sys
import time

from testbed.bench import params as parameters
from testbed.bench import plots, results


class Context:
    """What an experiment's run() gets: its parameters, progress, and labs that note how
    their links were conditioned into the result."""

    def __init__(self, name, params, repeats, out=sys.stderr):
        self.name, self.params, self.repeats, self.out = name, params, repeats, out
        self.repeat = 0
        self.conditions = {}
        self.started = time.monotonic()

    def progress(self, message):
        print(f'[{self.name} {self.repeat + 1}/{self.repeats} {time.monotonic() - self.started:5.0f}s] {message}',
              file=self.out, flush=True)

    @contextlib.contextmanager
    def lab(self, topology, mode=None, **options):
        from testbed.lab import Lab
        try:
            lab = Lab(topology, mode=mode, **options)
        except TypeError as exc:     # an option of a capability this version lacks
            raise parameters.ParamError(f'this version of vpclab cannot run a lab with {options} ({exc})') from None
        with lab:
            method = lab.network.links.method
            used = self.conditions.setdefault('link_conditioning', method)
            if used != method:
                self.conditions['link_conditioning'] = f'mixed: {used}, {method}'
            yield lab

    def plain(self, lab, hosts=2, mtu=1500):
        """The plain Open vSwitch baseline beside a running lab (same run state)."""
        from testbed.fabric.plain import PlainNetwork
        return PlainNetwork(lab.state.add, lab.names, hosts=hosts, mtu=mtu)


def run(module, pairs=(), base=results.RESULTS, out=sys.stderr):
    """Runs experiment `module` with `key=value` pairs; returns the result directory."""
    name = module.__name__.rsplit('.', 1)[-1]
    params = parameters.parse(pairs, module.PARAMETERS)
    ctx = Context(name, params, params['repeats'], out)
    started = datetime.datetime.now()
    rows = []
    for ctx.repeat in range(params['repeats']):
        rows += [dict(row, repeat=ctx.repeat) for row in module.run(ctx)]
    meta = dict(experiment=name, description=module.DESCRIPTION, params=params,
                machine=results.machine(), conditions=ctx.conditions,
                started=started.isoformat(timespec='seconds'),
                duration_s=round(time.monotonic() - ctx.started, 1))
    path = results.new_dir(name, base, started)
    results.write(path, meta, rows)
    draw(path, module, meta, rows)
    return path


def draw(path, module, meta, rows):
    """Summary and plots of a result, from its data alone; returns the metrics."""
    metrics = module.summarize(rows, meta['params'])
    results.write_summary(path, results.summary_text(
        meta, metrics, module.METRICS, module.describe(rows, meta['params'])))
    for name, fig in module.plot(rows, meta['params']):
        plots.save(fig, path, name)
    return metrics


def redraw(path):
    import experiments
    meta, rows = results.load(path)
    return draw(path, experiments.get(meta['experiment']), meta, rows)
