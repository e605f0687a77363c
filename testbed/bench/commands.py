"""`vpclab run`, `vpclab plot` and `vpclab regress`."""
from experiments import UnknownExperiment
from testbed.bench.params import ParamError
from testbed.bench.results import ResultError


class MissingBaseline(LookupError):
    """`vpclab regress` without a baseline to compare with."""


USER_ERRORS = (ParamError, UnknownExperiment, ResultError, MissingBaseline)   # exit code 2


def cmd_run(args):
    import experiments
    from testbed.bench import runner
    if args.list or not args.experiment:
        for name in experiments.names():
            print(f'{name:<12} {experiments.get(name).DESCRIPTION}')
        return 0
    module = experiments.get(args.experiment)
    path = runner.run(module, args.params)
    with open(path + '/summary.txt') as f:
        print(f.read(), end='')
    print(f'results: {path}')
    return 0


def cmd_plot(args):
    from testbed.bench import runner
    for path in args.dirs:
        runner.redraw(path)
        print(f'redrawn from data: {path}')
    return 0


def cmd_regress(args):
    from testbed.bench import regress
    if args.runs < 1:
        raise ParamError(f'--runs {args.runs}: run the suite at least once')
    try:
        return regress.main(update=args.update, names=args.only or regress.SUITE, runs=args.runs)
    except FileNotFoundError as exc:
        raise MissingBaseline(str(exc)) from None


def add_parsers(sub):
    p = sub.add_parser('run', help='run an experiment; results go to results/<date>-<name>/')
    p.add_argument('experiment', nargs='?', metavar='EXPERIMENT')
    p.add_argument('params', nargs='*', metavar='KEY=VALUE', help='parameters, e.g. repeats=5')
    p.add_argument('--list', action='store_true', help='list the experiments, one line each')
    p.set_defaults(func=cmd_run)
    p = sub.add_parser('plot', help='redraw the plots and summary of results from their data')
    p.add_argument('dirs', nargs='+', metavar='RESULT_DIR')
    p.set_defaults(func=cmd_plot)
    p = sub.add_parser('regress', help='run the quick suite and compare it with '
                       'results/baselines/ (exit 1 on a regression)')
    p.add_argument('--update', action='store_true', help='make this run the new baseline')
    p.add_argument('--only', nargs='+', metavar='EXPERIMENT', help='a part of the suite')
    p.add_argument('--runs', type=int, default=1, metavar='N',
                   help="run the suite N times and compare each metric's median; prints the spread")
    p.set_defaults(func=cmd_regress)
