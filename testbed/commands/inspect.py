"""`vpclab inspect [--wide]`: what runs (the lab, its controller and readiness, each physical host's
bridge, every instance with its host, IP, ENI and MAC, drops by reason), and `vpclab exec NODE -- CMD`:
a command in an instance's network namespace, found through the run state, which records the PID of
every Mininet node.  Both from a second terminal; inspect in the `vpclab up` shell too."""
import argparse
import os
import subprocess

from testbed.commands import aws
from testbed.commands.output import Report, Table, output_argument, render
from testbed.commands.views import check_instance
from testbed.errors import LabError, UsageError
from testbed.fabric import netns
from testbed.fabric.controller import LAUNCHER
from testbed.fabric.names import Names

NODE_MARK = 'mininet:'


def recorded_pids(state):
    """{what was recorded: PID} of the lab's processes that still run as recorded (mininet:NAME,
    the controller)."""
    return {mark: pid for pid, mark, _ in state.processes()}


def node_pid(state, name):
    """The PID of Mininet node `name`'s shell, while it still runs (else LabError)."""
    pid = recorded_pids(state).get(NODE_MARK + name)
    if pid is None:
        raise LabError(f'{name} has no running namespace in the lab')
    return pid


def enter(state, name):
    """nsenter's arguments that join node `name`'s network namespace: an instance's own named
    namespace (fabric/netns.py; its shell starts only on first use), else its shell's."""
    prefix = state.prefix()
    named = netns.path(Names(prefix).instance_netns(name)) if prefix else None
    if named and os.path.exists(named):
        return [f'--net={named}']
    return ['-t', str(node_pid(state, name)), '-n']


def inspect_arguments(p):
    p.add_argument('--wide', action='store_true',
                   help='also each instance\'s id, subnet, AZ, security groups, bridge port and PID')
    output_argument(p)


def inspect(lab, args):
    topo, state = lab.topology, lab.state
    status = lab.api.status()
    names = Names(state.data['prefix'])
    where = {e['instance']: e['host'] for e in lab.api.mappings()}
    pids = recorded_pids(state)
    controller = pids.get(LAUNCHER)
    metrics = lab.api.metrics()
    lines = [f'lab {topo.name} ({topo.path}), prefix {names.prefix}, run by PID {state.data.get("lab_pid")}, '
             f'{topo.mode} mode, {topo.encapsulation}',
             f'controller PID {controller}, OpenFlow errors {status["ofp_errors"]}: '
             f'{"ready" if status["ready"] else "NOT READY"}']
    hosts = Table(('HOST', 'AZ', 'RACK', 'UNDERLAY-IP', 'BRIDGE', 'NIC', 'INSTANCES', 'READY'),
                  [(h.name, h.az, h.rack, h.underlay_ip, names.hypervisor(h), names.nic(h),
                    sum(1 for host in where.values() if host == h.name),
                    'yes' if status['hosts'].get(h.name, {}).get('ready') else 'no')
                   for h in topo.hosts.values()], 'physical hosts')
    columns = ['INSTANCE', 'VPC', 'HOST', 'IP', 'ENI', 'MAC']
    if args.wide:
        columns += ['INSTANCE-ID', 'SUBNET', 'AZ', 'SECURITY-GROUPS', 'PORT', 'PID']
    rows = []
    for index, i in enumerate(topo.instances(), start=1):
        row = [i.name, i.vpc, where.get(i.name, '(not running)'), i.ip, i.eni, i.mac]
        if args.wide:
            row += [i.id, i.subnet, topo.vpcs[i.vpc].subnets[i.subnet].az, list(i.security_groups),
                    names.instance_port(index), pids.get(NODE_MARK + i.name)]
        rows.append(tuple(row))
    drops = Table(('REASON', 'PACKETS'), sorted(metrics['drops'].items()), 'drops by reason', empty='(no drops)')
    doc = dict(Lab=dict(Name=topo.name, Topology=topo.path, Prefix=names.prefix, LabPid=state.data.get('lab_pid'),
                        Mode=topo.mode, Encapsulation=topo.encapsulation),
               Controller=dict(Pid=controller, Ready=status['ready'], OpenFlowErrors=status['ofp_errors']),
               PhysicalHosts=[dict(zip(('HostId', 'AvailabilityZone', 'Rack', 'UnderlayIpAddress', 'Bridge', 'Nic',
                                        'Instances', 'Ready'), row[:7] + (row[7] == 'yes',))) for row in hosts.rows],
               Drops=metrics['drops'], **aws.describe_instances(topo, where))
    return render(Report([hosts, Table(tuple(columns), rows, 'instances'), drops], doc, lines), args)


def exec_arguments(p):
    p.add_argument('node', metavar='NODE', help='an instance of the running lab')
    p.add_argument('command', nargs=argparse.REMAINDER, metavar='-- CMD ...',
                   help='the command and its arguments, after --')


def cmd_exec(args):
    """Runs the command in the instance's network namespace; its exit code is ours."""
    from testbed.commands.lab_commands import RunningLab
    command = args.command[1:] if args.command[:1] == ['--'] else args.command
    if not command:
        raise UsageError('exec: no command given; usage: vpclab exec NODE -- CMD [ARG ...]')
    lab = RunningLab()
    check_instance(lab.topology, args.node)
    where = enter(lab.state, args.node)
    try:
        return subprocess.run(['nsenter', *where, '--', *command]).returncode
    except FileNotFoundError:
        raise LabError('nsenter is missing (Debian package util-linux)') from None
