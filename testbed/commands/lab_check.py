"""`vpclab check` and `vpclab lab ...`: classroom labs with automatic checks (docs/students.md,
docs/instructors.md; the checks format in docs/topology-format.md, "Labs and checks").

    vpclab check TOPOLOGY CHECKS               boot TOPOLOGY, send the checks' packets, tear it down
    vpclab check COMMANDS CHECKS               the same on the topology next to CHECKS, after COMMANDS
    vpclab check --grade FOLDER CHECKS         one lab run per submission in FOLDER, one report
    vpclab lab list                            the labs, one line each
    vpclab lab start NAME [--solved]           a lab's starting network (or its solution) and the shell
    vpclab lab check NAME                      its checks on the running lab (from another terminal)
    vpclab lab reset NAME                      the running lab's security groups back as they started
    vpclab lab solve NAME                      its solution on the running lab (a topology's: its security
                                               groups; what else it changes needs `lab start NAME --solved`)
    vpclab lab grade NAME FOLDER               = check --grade FOLDER with the lab's checks and topology

--report table|json|csv|junit.  Exit codes: 0 every check passed, 1 a check failed (or the lab could not
run), 2 a bad file (one line: FILE:LINE: what is wrong)."""
import argparse
import os
import sys
import time

import shtab

from testbed.commands.grammar import Command
from testbed.errors import UsageError
from testbed.labs import catalog, checks
from testbed.topology import TopologyError, load


def report_argument(p):
    p.add_argument('--report', choices=checks.FORMATS, default='table',
                   help='table (for people, the default), json, csv or junit (JUnit XML, for CI and graders)')


def say(text):
    print(f'*** {text}', file=sys.stderr, flush=True)


# ---- one run ------------------------------------------------------------------------------------

def prepare(submission, checks_file, base=None):
    """(topology file to boot, commands file or None, the checks) of one submission, all validated
    before anything boots (TopologyError on a bad file)."""
    commands = None
    if catalog.is_topology(submission):
        topology_file = submission
    else:
        topology_file = base or _beside(checks_file)
        if not os.path.exists(topology_file):
            raise UsageError(f'{submission} is a commands file: name the topology it runs on with --topology')
        catalog.read_commands(submission)
        commands = submission
    topology = load(topology_file)
    return topology, commands, checks.load(checks_file, topology)


def _beside(checks_file):
    """The topology a commands file runs on by default: the lab's, next to its checks."""
    return os.path.join(os.path.dirname(os.path.abspath(checks_file)), 'topology.yaml')


def run_once(topology, commands, found):
    """Boots the topology, applies the commands, runs the checks; the results (the lab is torn down)."""
    from testbed.lab import Lab
    from testbed.labs.runner import Runner
    t0 = time.monotonic()
    with Lab(topology) as lab:
        say(f'{topology.name} booted in {lab.timings["ready_s"]:.1f} s')
        if commands:
            catalog.apply_commands(lab, commands)
            say(f'applied {commands}')
        results = Runner(lab).run(found)
    say(f'{len(found)} checks in {time.monotonic() - t0:.1f} s, boot and teardown included')
    return results


def exit_code(results):
    return 0 if all(r.passed for r in results) else 1


def cmd_check(args):
    if args.grade:
        return grade(args.submission, args.checks, args.topology, args.report)
    topology, commands, found = prepare(args.submission, args.checks, args.topology)
    results = run_once(topology, commands, found)
    print(checks.render(results, f'{args.checks} on {args.submission}', args.report))
    return exit_code(results)


def grade(folder, checks_file, base, fmt):
    """One lab run per file of `folder` (a student's topology or commands file, named after the student)."""
    if not os.path.isdir(folder):
        raise UsageError(f'{folder}: --grade takes a folder of submissions (one file per student)')
    base_topology = base or _beside(checks_file)
    if os.path.exists(base_topology):
        checks.load(checks_file, load(base_topology))        # a bad checks file is the instructor's: exit 2
    graded = []
    for name in sorted(f for f in os.listdir(folder) if not f.startswith('.')):
        path = os.path.join(folder, name)
        student = os.path.splitext(name)[0]
        say(f'grading {student} ({path})')
        try:
            results = run_once(*prepare(path, checks_file, base_topology))
            graded.append((student, results, None))
        except (TopologyError, UsageError) as exc:
            graded.append((student, None, f'bad submission: {exc}'))
        except Exception as exc:      # noqa: BLE001  one submission that cannot run does not stop the grading
            graded.append((student, None, f'could not run: {" ".join(str(exc).split())[:300]}'))
    print(checks.render_grades(graded, f'{checks_file} on {folder}', fmt))
    return 0 if graded and all(rs and exit_code(rs) == 0 for _, rs, _ in graded) else 1


def check_arguments(p):
    p.add_argument('submission', metavar='TOPOLOGY|COMMANDS|FOLDER',
                   help='a topology file, or a commands file run on the topology next to CHECKS; with --grade a '
                        'folder of them').complete = shtab.FILE
    p.add_argument('checks', metavar='CHECKS', help='a checks file (labs/*/checks.yaml)').complete = shtab.FILE
    p.add_argument('--grade', action='store_true', help='SUBMISSION is a folder: grade every file in it')
    p.add_argument('--topology', metavar='FILE', help='the topology commands files run on (default: topology.yaml '
                   'next to CHECKS)').complete = shtab.FILE
    report_argument(p)


# ---- vpclab lab ... -------------------------------------------------------------------------------

def lab_list(args):
    for lab in catalog.labs():
        print(f'{lab.name:<16} {lab.description}')
    return 0


def lab_start(args):
    from testbed.commands.shell import VpcShell
    from testbed.lab import Lab
    lab_dir = catalog.find(args.name)
    solution = lab_dir.solution if args.solved else None
    topology = solution if solution and catalog.is_topology(solution) else lab_dir.topology
    with Lab(topology, progress=lambda m: print('*** ' + m)) as lab:
        if solution and not catalog.is_topology(solution):
            catalog.apply_commands(lab, solution)
        print(f'*** lab {lab_dir.name} ({lab_dir.description}) is up in {lab.timings["ready_s"]:.1f} s; steps '
              f'and questions: {os.path.relpath(lab_dir.readme)}; `check` runs its checks, "exit" stops it')
        VpcShell(lab, checks_file=lab_dir.checks)
    return 0


def lab_check(args):
    from testbed.commands.lab_commands import RunningLab
    lab_dir = catalog.find(args.name)
    results, title = check_running(RunningLab(), lab_dir.checks)
    print(checks.render(results, title, args.report))
    return exit_code(results)


def check_running(lab, checks_file):
    """The checks of `checks_file` on a running lab (a Lab, or a RunningLab); (results, title)."""
    from testbed.labs.runner import Runner
    found = checks.load(checks_file, lab.topology)
    return Runner(lab).run(found), f'{checks_file} on the running lab {lab.topology.name}'


def shell_check_arguments(p):
    p.add_argument('checks', metavar='CHECKS', nargs='?', help='a checks file (default: the lab\'s own, under '
                   '`vpclab lab start`)').complete = shtab.FILE
    report_argument(p)


def shell_check(lab, args):
    if args.checks is None:
        raise UsageError('check: name a checks file (labs/*/checks.yaml)')
    results, title = check_running(lab, args.checks)
    return checks.render(results, title, args.report)


SHELL_CHECK = Command('check', 'run a checks file on this lab: allowed or denied, and where and why a packet was '
                      'dropped', shell_check_arguments, shell_check)


def lab_reset(args):
    from testbed.commands.lab_commands import RunningLab
    lab_dir, lab = catalog.find(args.name), RunningLab()
    _same_lab(lab, lab_dir, 'reset')
    put_back = catalog.set_groups(lab, load(lab_dir.topology))
    print(f'{lab_dir.name}: {len(put_back)} security groups as they started ({", ".join(put_back) or "none"}); '
          'the rest of a lab changes only with its topology: `vpclab lab start` starts it afresh')
    return 0


def lab_solve(args):
    """A commands solution: its commands.  A topology solution: its security groups, which a running lab
    takes; what else it changes needs a new lab (said, exit 1)."""
    from testbed.commands.lab_commands import RunningLab
    lab_dir = catalog.find(args.name)
    solution = lab_dir.solution
    lab = RunningLab()
    _same_lab(lab, lab_dir, 'solve')
    if not catalog.is_topology(solution):
        for said in catalog.apply_commands(lab, solution):
            print(said)
        return 0
    rest = catalog.not_live(lab_dir.topology, solution)
    groups = catalog.set_groups(lab, load(solution))
    print(f'{lab_dir.name}: {len(groups)} security groups as the solution has them ({", ".join(groups) or "none"})')
    if not rest:
        return 0
    say(f'the rest of the solution ({os.path.relpath(solution)}) changes what a running lab cannot take: '
        f'{", ".join(rest)}; leave the lab\'s shell and run `vpclab lab start {lab_dir.name} --solved`')
    return 1


def _same_lab(lab, lab_dir, verb):
    if os.path.abspath(lab.topology.path) != os.path.abspath(lab_dir.topology):
        raise UsageError(f'the running lab is {lab.topology.path}, not {os.path.relpath(lab_dir.topology)}: '
                         f'{verb} works on the lab started by `vpclab lab start {lab_dir.name}`')


def lab_grade(args):
    lab_dir = catalog.find(args.name)
    return grade(args.folder, lab_dir.checks, lab_dir.topology, args.report)


def add_parsers(sub):
    p = sub.add_parser('check', help='boot a topology and run a checks file on it (or grade a folder)',
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    check_arguments(p)
    p.set_defaults(func=cmd_check)
    lab = sub.add_parser('lab', help='classroom labs: list, start, check, reset, solve, grade',
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = lab.add_subparsers(dest='verb', required=True, metavar='VERB')
    found = [x.name for x in catalog.labs()]
    names = ', '.join(found)
    for verb, func, helptext in (
            ('list', lab_list, 'the labs, with a one-line description each'),
            ('start', lab_start, 'start a lab\'s starting network and the vpclab shell (like vpclab up)'),
            ('check', lab_check, 'run a lab\'s checks on the running lab (from another terminal)'),
            ('reset', lab_reset, 'put the running lab\'s security groups back as the lab started'),
            ('solve', lab_solve, 'apply the lab\'s solution to the running lab (of a topology: its security groups)'),
            ('grade', lab_grade, 'grade a folder of submissions against a lab\'s checks')):
        p = verbs.add_parser(verb, help=helptext, description=helptext)
        if verb != 'list':
            # the labs are part of this checkout, like the grammar the completion script is made from
            p.add_argument('name', metavar='NAME', help=f'a lab (its folder name or number): {names}'
                           ).complete = shtab.cmd(f'echo {" ".join(found)}')
        if verb == 'start':
            p.add_argument('--solved', action='store_true', help='start it with its solution applied')
        if verb == 'grade':
            p.add_argument('folder', metavar='FOLDER', help='one topology or commands file per student'
                           ).complete = shtab.DIRECTORY
        if verb in ('check', 'grade'):
            report_argument(p)
        p.set_defaults(func=func)
