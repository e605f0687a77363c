"""`vpclab flowlogs` and `vpclab security-group`, for the lab that is running on this machine
(found through its run state), and the same views for the `vpclab up` shell."""
from testbed import flowlogs, security_groups
from testbed.management_client import ManagementClient
from testbed.errors import LabError
from testbed.fabric.runstate import RunState
from testbed.topology import load


def running_lab():
    """The run state of the lab running on this machine."""
    for state in RunState.existing():
        if state.lab_running() and 'api_port' in state.data:
            return state.data
    raise LabError('no lab is running on this machine; start one with `sudo vpclab up FILE`')


def eni_of(api, name):
    """An ENI id, also when given as the instance's name."""
    if name is None or name.startswith('eni-'):
        return name
    found = [e['eni'] for e in api.mappings() if e['instance'] == name]
    if not found:
        raise LabError(f'no instance or ENI named {name!r} in the running lab')
    return found[0]


def show_flow_logs(path, api, eni=None, address=None, port=None, action=None):
    records = flowlogs.select(flowlogs.read(path), eni=eni_of(api, eni), address=address, port=port,
                              action=action)
    return '\n'.join(flowlogs.lines(records))


def show_group(group):
    return '\n'.join('%-8s %s' % (direction, security_groups.describe(rule))
                     for direction in ('inbound', 'outbound') for rule in group[direction]) or '(no rules)'


def change_group(topology, api, vpc, group, direction, op, words, timeout=30.0):
    """Add or remove one rule on the running lab; returns the group once every host has it."""
    new = security_groups.edit(api.security_group(vpc, group), direction, op, words)
    security_groups.replace(api, topology, vpc, group, timeout=timeout, **{direction: new})
    return api.security_group(vpc, group)


# ---- vpclab subcommands ------------------------------------------------------------------------

def cmd_flowlogs(args):
    lab = running_lab() if args.file is None else {}
    api = ManagementClient(lab['api_port']) if lab else None
    if args.eni and not args.eni.startswith('eni-') and api is None:
        raise LabError('an instance name needs the running lab; give the ENI id with --file')
    print(show_flow_logs(args.file or flowlogs.path_in(lab['run_dir']), api, args.eni, args.address,
                         args.port, args.action))
    return 0


def cmd_security_group(args):
    lab = running_lab()
    api = ManagementClient(lab['api_port'])
    if args.change:
        if len(args.change) < 4:
            raise LabError('a change is: add|remove inbound|outbound PROTOCOL [PORTS] PEER')
        op, direction, *words = args.change
        group = change_group(load(lab['topology']), api, args.vpc, args.group, direction, op, words)
    else:
        group = api.security_group(args.vpc, args.group)
    print(show_group(group))
    return 0


def add_parsers(sub):
    p = sub.add_parser('flowlogs', help='VPC flow-log records of the running lab (AWS format v2)')
    p.add_argument('--eni', help='an ENI id (eni-...) or an instance name')
    p.add_argument('--address', help='source or destination IP')
    p.add_argument('--port', type=int, help='source or destination port')
    p.add_argument('--action', type=str.upper, choices=flowlogs.ACTIONS)
    p.add_argument('--file', help='a flow-log file instead of the running lab\'s')
    p.set_defaults(func=cmd_flowlogs)
    p = sub.add_parser('security-group', help='show or change a security group of the running lab')
    p.add_argument('vpc')
    p.add_argument('group')
    p.add_argument('change', nargs='*', metavar='add|remove inbound|outbound PROTOCOL [PORTS] PEER',
                   help='e.g. add inbound tcp 8080 10.0.0.0/16; tracked connections keep flowing')
    p.set_defaults(func=cmd_security_group)
