"""The `vpclab` command (run it with sudo).  Exit codes: 0 ok, 1 failure of what was
asked, 2 bad input."""
import argparse
import os
import sys

import shtab

from testbed.bench.commands import USER_ERRORS
from testbed.bench.commands import add_parsers as add_bench_parsers
from testbed.commands import capture, edge_commands, graph, info, inspect, lab_check, lab_commands, trace
from testbed.errors import LabError, UsageError
from testbed.fabric.platform import PlatformError
from testbed.management_client import ApiError
from testbed.topology import TopologyError
from testbed.topology.edge_model import STATE_STORES

DEFAULT_TOPOLOGY = 'topologies/default.yaml'


def cmd_up(args):
    from testbed.commands.shell import VpcShell
    from testbed.lab import Lab
    with Lab(args.topology, mode=args.mode, keep=args.keep, progress=lambda m: print('*** ' + m),
             state_store=args.state_store) as lab:
        print(f'*** {lab.topology.name} is up in {lab.timings["ready_s"]:.1f} s; type "help" for the VPC '
              'commands, "exit" to stop')
        VpcShell(lab)
    return 0


def cmd_demo(args):
    from testbed.commands.demo import narrate
    narrate(args.topology, mode=args.mode, keep=args.keep)
    return 0


def cmd_down(args):
    from testbed import run_dir
    from testbed.fabric.runstate import RunState
    states = RunState.existing()
    if not states:
        print('nothing to clean up')
    for st in states:
        if st.lab_running() and not args.force:
            print(f'lab {st.data.get("prefix")} is still running as PID {st.data.get("lab_pid")}: stop it '
                  '(or use --force)')
            return 1
        print(f'cleaning up lab {st.data.get("prefix")} ({st.path})')
        st.clean()
        run_dir.remove(st.data.get('run_dir'))
    return 0


def parser():
    ap = argparse.ArgumentParser(prog='vpclab', description='The AWS VPC data plane on '
                                 'Mininet, Open vSwitch and an OpenFlow controller.')
    ap.add_argument('--version', action=VersionAction, help='print the versions of vpclab, Open vSwitch, '
                    'os-ken and Mininet, then exit')
    sub = ap.add_subparsers(dest='command', required=True, metavar='COMMAND')
    p = sub.add_parser('validate', help='check topology files (no root needed)')
    info.validate_arguments(p)
    p.set_defaults(func=info.cmd_validate)
    for name, func, helptext in (
            ('up', cmd_up, 'start a lab, then a Mininet CLI with VPC commands'),
            ('demo', cmd_demo, 'narrate one packet\'s journey on the default topology')):
        p = sub.add_parser(name, help=helptext)
        if name == 'up':
            p.add_argument('topology', metavar='FILE').complete = shtab.FILE
            p.add_argument('--state-store', choices=STATE_STORES, help='where the Hyperplane nodes keep membership '
                           'and port-block claims (default: the file\'s hyperplane.state_store, else embedded)')
        else:
            p.add_argument('--topology', default=DEFAULT_TOPOLOGY, metavar='FILE').complete = shtab.FILE
        p.add_argument('--mode', choices=['proactive', 'reactive'],
                       help='override the file\'s mapping-cache mode')
        p.add_argument('--keep', metavar='DIR', help='write the run\'s flow logs and controller log to DIR '
                       '(else nothing of the run stays)')
        p.set_defaults(func=func)
    p = sub.add_parser('down', help='remove what a crashed lab left behind')
    p.add_argument('--force', action='store_true', help='even if its process still runs')
    p.set_defaults(func=cmd_down)
    add_bench_parsers(sub)
    lab_commands.add_parsers(sub)
    edge_commands.add_parsers(sub)
    trace.add_parser(sub)
    lab_check.add_parsers(sub)
    p = sub.add_parser('graph', help='draw a topology file: its physical and logical layers (no lab needed)',
                       description='e.g. vpclab graph topologies/default.yaml --format svg -w default.svg')
    graph.graph_arguments(p)
    p.set_defaults(func=graph.cmd_graph)
    p = sub.add_parser('capture', help='capture packets of the running lab by name (pcap for Wireshark)',
                       description=capture.__doc__.split('\n\n')[1],
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog='e.g. vpclab capture -w - r1-h1 udp port 6081 | wireshark -k -i -  (options '
                              'before TARGET or after the filter)')
    capture.capture_arguments(p)
    p.set_defaults(func=capture.cmd_capture)
    p = sub.add_parser('exec', help='run a command in an instance\'s network namespace (exit code passed through)',
                       description='e.g. vpclab exec web-1 -- ping -c1 10.0.1.11')
    inspect.exec_arguments(p)
    p.set_defaults(func=inspect.cmd_exec)
    p = sub.add_parser('completion', help='print a shell completion script (from this grammar)',
                       description='e.g. eval "$(vpclab completion bash)", or save it in '
                                   '/etc/bash_completion.d/vpclab')
    info.completion_arguments(p)
    p.set_defaults(func=info.cmd_completion)
    return ap


class VersionAction(argparse.Action):
    """--version: the versions are looked up only when asked for."""

    def __init__(self, option_strings, dest, help=None):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(info.version_text())
        parser.exit()


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (TopologyError, PlatformError, UsageError) + USER_ERRORS as exc:
        print(f'vpclab: {exc}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('\nvpclab: interrupted; the lab was torn down', file=sys.stderr)
        return 130
    except BrokenPipeError:             # `vpclab ... | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (LabError, ApiError) as exc:
        print(f'vpclab: {exc}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
