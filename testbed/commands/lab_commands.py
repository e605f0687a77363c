"""The commands on a running lab, offered by `vpclab COMMAND` (from another terminal) and by the
`vpclab up` shell with one grammar (testbed/commands/grammar.py).  Names of hosts, instances, VPCs
and groups are checked against the lab before anything is asked of it."""
from functools import cached_property

from testbed import flowlogs
from testbed.commands import firewall, hyperplane_commands
from testbed.commands.grammar import Command
from testbed.commands.inspect import inspect, inspect_arguments
from testbed.commands.reachability import reachability, reachability_arguments
from testbed.commands.views import (
    alerts,
    cache,
    check_host,
    check_instance,
    counters,
    flows,
    flows_arguments,
    host_argument,
    mappings,
    no_arguments,
    placement,
)
from testbed.errors import LabError, UsageError
from testbed.fabric import conntrack
from testbed.fabric.names import Names
from testbed.fabric.runstate import RunState
from testbed.management_client import ManagementClient
from testbed.topology import TopologyError, load


class RunningLab:
    """The lab running on this machine seen from another terminal, through its run state: the part
    of testbed.lab.Lab the commands use (api, topology, flow_log_path, bridge, datapath_drops)."""

    @cached_property
    def state(self):
        for state in RunState.existing():
            if state.lab_running() and 'api_port' in state.data:
                return state
        raise LabError('no lab is running on this machine; start one with `sudo vpclab up FILE`')

    @cached_property
    def api(self):
        return ManagementClient(self.state.data['api_port'])

    @cached_property
    def topology(self):
        path = self.state.data.get('topology')
        try:
            return load(path)
        except (TopologyError, OSError, TypeError) as exc:
            raise LabError(f'the running lab\'s topology {path!r} cannot be read now ({exc})') from None

    @property
    def flow_log_path(self):
        return flowlogs.path_in(self.state.data['run_dir'])

    def bridge(self, host):
        return Names(self.state.data['prefix']).hypervisor(self.topology.hosts[host])

    def datapath_drops(self):
        return conntrack.fragment_drops()

    def migrate(self, instance, host):
        raise UsageError('migrate moves the instance\'s namespace, which only the lab\'s own process can: '
                         'run it in the `vpclab up` shell')


def migrate_arguments(p):
    p.add_argument('instance', metavar='INSTANCE')
    p.add_argument('host', metavar='HOST', help='a physical host, e.g. r1-h1')


def migrate(lab, args):
    check_instance(lab.topology, args.instance)
    check_host(lab.topology, args.host)
    rec = lab.migrate(args.instance, args.host)
    return (f'{args.instance} now runs on {args.host}; {len(rec["hosts"])} host caches updated in '
            f'{rec["seconds"] * 1e3:.1f} ms ({rec["total_seconds"] * 1e3:.0f} ms in all)')


COMMANDS = {c.name: c for c in (
    Command('security-group', 'show or change a security group of the running lab',
            firewall.security_group_arguments, firewall.security_group),
    Command('flowlogs', 'VPC flow-log records of the running lab (AWS format v2)',
            firewall.flowlogs_arguments, firewall.flow_logs),
    Command('mappings', 'the mapping service\'s table (VNI, IP) -> host, MAC, ENI', no_arguments, mappings),
    Command('cache', 'what one physical host\'s cache holds, with its counters', host_argument, cache),
    Command('counters', 'mapping-service metrics and drops by reason, per host', no_arguments, counters),
    Command('alerts', 'what the hypervisors reported for a human to look at', no_arguments, alerts),
    Command('placement', 'where each instance runs now', no_arguments, placement),
    Command('flows', 'the OpenFlow pipeline of a physical host\'s bridge', flows_arguments, flows),
    Command('inspect', 'what runs: the lab, its controller, hosts, instances (host, IP, ENI, MAC), drops',
            inspect_arguments, inspect),
    Command('reachability', 'per VPC, who can ping whom by name: expected (from the model) against observed '
            '(real pings); the shell\'s pingall', reachability_arguments, reachability),
    Command('migrate', 'move a running instance to another physical host (in the vpclab up shell)',
            migrate_arguments, migrate),
    Command('hyperplane', 'Hyperplane: which nodes serve which NAT gateway, NLB and endpoint; fail or restore a '
            'node (in the vpclab up shell)', hyperplane_commands.arguments, hyperplane_commands.hyperplane),
)}
ALIASES = {'sg': 'security-group', 'pingall': 'reachability'}


def add_parsers(subparsers):
    """The commands the CLI offers, run on the lab running on this machine."""
    for command in COMMANDS.values():
        command.add_to(subparsers, lambda cmd, args: print(cmd.run(RunningLab(), args)) or 0)
