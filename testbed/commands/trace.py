"""`vpclab trace SRC DST [tcp/PORT|udp/PORT|icmp]` (the `vpclab up` shell's `trace` too): what becomes of
one packet, stage by stage (controllers/pipeline.py), with the rule, route, mapping or flow that decided,
and the verdict.

    vpclab trace web-1 db-1 tcp/5432                       the model, from the running lab's state
    vpclab trace --topology topologies/firewall.yaml client-1 db-1 tcp/80    the file alone, no lab
    vpclab trace --wire client-1 web-1 tcp/22              one real packet; the flows it met
    vpclab trace --minimal web-1 db-1 tcp/5432             one line, for scripts
    vpclab trace --from-host r1-h3 client-1 web-1          as if client-1 ran on r1-h3 (forged; the CHECK)
    vpclab trace --wire example-web web-eip tcp/80         the internet to an elastic IP: OUTSIDE, EDGE, ...
    vpclab trace corp-1 app-1 tcp/22                       a site's host over the VPN (or Direct Connect)
    vpclab trace app-1 example-web tcp/80                  through a NAT gateway: HYPERPLANE_NODE, EDGE, OUTSIDE

Exit codes: 0 when the trace ran, whatever the verdict; 2 for bad input; 1 when it could not run."""
import argparse

import shtab

from testbed.commands.grammar import Command
from testbed.commands.output import Report, Table, output_argument, render
from testbed.errors import UsageError
from testbed.observe.trace_rules import ICMP, PROTOCOLS, Probe

NAMES = {name: number for number, name in PROTOCOLS.items()}


def probe(text):
    """'tcp/80', 'udp/53', 'icmp' -> Probe; UsageError otherwise."""
    name, _, port = text.lower().partition('/')
    if name not in NAMES:
        raise UsageError(f'protocol {text!r}: give tcp/PORT, udp/PORT or icmp')
    if name == 'icmp':
        if port:
            raise UsageError(f'protocol {text!r}: icmp has no port')
        return Probe(ICMP)
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UsageError(f'protocol {text!r}: {name} needs a port from 1 to 65535, e.g. {name}/80')
    return Probe(NAMES[name], int(port))


def trace_arguments(p):
    p.add_argument('src', metavar='SRC', help='an instance (or an elastic IP, load balancer or outside host)')
    p.add_argument('dst', metavar='DST', help='an instance, elastic IP, load balancer, endpoint (a gateway one: '
                                             'S3), outside host or address')
    p.add_argument('protocol', metavar='PROTO', nargs='?', default='icmp', help='tcp/PORT, udp/PORT or icmp '
                   '(the default)')
    p.add_argument('--topology', metavar='FILE', help='the model of this file alone (no lab needed)'
                   ).complete = shtab.FILE
    p.add_argument('--wire', action='store_true', help='send one real packet and read the flows it met')
    p.add_argument('--from-host', metavar='HOST', help='the packet arrives encapsulated from this physical host, '
                   'as if SRC ran there (wire: a forged packet on the destination host\'s cable)')
    p.add_argument('--minimal', action='store_true', help='one line: SRC -> DST PROTO: allowed | dropped at ...')
    output_argument(p)


def run(lab, args):
    """The trace's text; lab: the running lab (not read with --topology)."""
    from testbed.observe.trace_model import TraceState, trace
    packet = probe(args.protocol)
    if args.topology:
        if args.wire:
            raise UsageError('--wire sends a real packet in the running lab: it does not go with --topology')
        from testbed.topology import load
        topo = load(args.topology)
        found = trace(topo, TraceState.of_topology(topo), args.src, args.dst, packet, args.from_host)
    elif args.wire:
        from testbed.observe.trace_wire import trace_wire
        found = trace_wire(lab, args.src, args.dst, packet, args.from_host)
    else:
        found = trace(lab.topology, TraceState.of_lab(lab), args.src, args.dst, packet, args.from_host)
    if args.minimal:
        return found.minimal()
    return render(report(found), args)


def report(t):
    wire = t.mode == 'wire'
    columns = ('#', 'STAGE', 'HOST', 'DECISION', 'DETAIL') + (('PACKETS',) if wire else ())
    rows = [(n, s.stage, s.host, s.decision, s.detail) + ((s.packets,) if wire else ())
            for n, s in enumerate(t.steps, start=1)]
    lines = [f'trace {t.src} -> {t.dst} {t.probe} ({t.mode} mode: {t.source})',
             f'verdict: {t.minimal().partition(": ")[2]}', t.explanation()]
    document = t.document()
    if t.model is not None:             # wire mode: the model's trace of the same packet, checked against it
        agrees = t.agrees(t.model)
        lines.append('the model agrees' if agrees else f'THE MODEL DISAGREES: {t.model.minimal()}')
        document['ModelAgrees'] = agrees
    return Report([Table(columns, rows, 'stages, in journey order')], document, lines)


def shell_command():
    """The shell's do_trace (testbed/commands/shell.py)."""
    def do_trace(self, line):
        print(COMMAND.run(self.lab, COMMAND.parse(line)))
    do_trace.__doc__ = f'{COMMAND.help}: {COMMAND.parser.format_usage().partition(": ")[2].strip()}'
    return do_trace


def add_parser(subparsers):
    """`vpclab trace` on the CLI: the running lab (found by its run state) unless --topology."""
    from testbed.commands.lab_commands import RunningLab
    p = COMMAND.add_to(subparsers, lambda cmd, args: print(cmd.run(RunningLab(), args)) or 0)
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.description = __doc__


COMMAND = Command('trace', 'what becomes of one packet from SRC to DST, stage by stage, and why',
                  trace_arguments, run)
