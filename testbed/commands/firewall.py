"""The `security-group` and `flowlogs` commands (in the CLI and the `vpclab up` shell alike), with
the short rule syntax they take:

    PROTOCOL [PORTS] PEER        e.g.  tcp 80 0.0.0.0/0   udp 5000-5001 10.0.0.0/16   all sg:web
"""
import os

from controllers.router.flow_log import HEADER
from testbed import flowlogs, security_groups
from testbed.commands import aws
from testbed.commands.output import FORMATS, Report, Table, output_argument, render
from testbed.errors import UsageError
from testbed.security_groups import DIRECTIONS
from testbed.topology import firewall_format

PROTOCOL_NAMES = {v: k for k, v in firewall_format.PROTOCOLS.items()}
CHANGE = 'add|remove inbound|outbound PROTOCOL [PORTS] PEER'


# ---- the short rule syntax -----------------------------------------------------------------------

def from_words(words, direction):
    """['tcp', '80', '0.0.0.0/0'] -> the file's rule mapping for `direction`."""
    if len(words) not in (2, 3):
        raise UsageError('a rule is PROTOCOL [PORTS] PEER, like: tcp 80 0.0.0.0/0')
    rule = dict(protocol=words[0], **{DIRECTIONS[direction]: words[-1]})
    if len(words) == 3:
        rule['ports'] = words[1]
    return rule


def to_file_form(rule, direction):
    """An API rule dict -> the file's rule mapping (to edit a group's current rules)."""
    out = dict(protocol=PROTOCOL_NAMES.get(rule['protocol'], str(rule['protocol'])),
               **{DIRECTIONS[direction]: rule['peer']})
    if rule['ports']:
        first, last = rule['ports']
        out['ports'] = str(first) if first == last else f'{first}-{last}'
    return out


def describe(rule):
    form = to_file_form(rule, 'inbound')
    return ' '.join(str(x) for x in (form['protocol'], form.get('ports', 'all-ports'), form['from']))


def edit(group, direction, op, words):
    """The rules of `direction` of `group` (the API's view) after adding or removing `words`."""
    if direction not in DIRECTIONS or op not in ('add', 'remove'):
        raise UsageError(f'a change is: {CHANGE}')
    rules = [to_file_form(r, direction) for r in group[direction]]
    rule = from_words(words, direction)
    if op == 'add':
        return rules + [rule]
    if rule not in rules:
        raise UsageError(f'the group has no {direction} rule {" ".join(words)}')
    return [r for r in rules if r != rule]


def group_report(vpc, name, group):
    """A group's rules (the API's view) as a table and as describe-security-groups."""
    rows = [(direction, *describe(rule).split(' ')) for direction in DIRECTIONS for rule in group[direction]]
    return Report([Table(('DIRECTION', 'PROTOCOL', 'PORTS', 'PEER'), rows, empty='(no rules)')],
                  aws.describe_security_groups(vpc, name, group),
                  [f'security group {name} ({vpc.security_groups[name].id}) of vpc {vpc.name} ({vpc.id})'])


def change_group(topology, api, vpc, group, direction, op, words, timeout=30.0):
    """Add or remove one rule on the running lab; returns the group once every host has it."""
    security_groups.check_group(topology, vpc, group)
    new = edit(api.security_group(vpc, group), direction, op, words)
    security_groups.replace(api, topology, vpc, group, timeout=timeout, **{direction: new})
    return api.security_group(vpc, group)


# ---- security-group VPC GROUP [CHANGE] -------------------------------------------------------------

def security_group_arguments(p):
    p.add_argument('vpc')
    p.add_argument('group')
    p.add_argument('change', nargs='*', metavar=CHANGE,
                   help='e.g. add inbound tcp 8080 10.0.0.0/16; tracked connections keep flowing')
    output_argument(p)


def security_group(lab, args):
    if args.change:
        if len(args.change) < 4:
            raise UsageError(f'a change is: {CHANGE}')
        op, direction, *words = args.change
        group = change_group(lab.topology, lab.api, args.vpc, args.group, direction, op, words)
    else:
        security_groups.check_group(lab.topology, args.vpc, args.group)
        group = lab.api.security_group(args.vpc, args.group)
    return render(group_report(lab.topology.vpcs[args.vpc], args.group, group), args)


# ---- flowlogs [--eni ...] [--file FILE] ----------------------------------------------------------------

def flowlogs_arguments(p):
    p.add_argument('--eni', help='an ENI id (eni-...) or an instance name')
    p.add_argument('--address', help='source or destination IP')
    p.add_argument('--port', type=int, help='source or destination port')
    p.add_argument('--action', type=str.upper, choices=flowlogs.ACTIONS)
    p.add_argument('--file', help='a flow-log file instead of the running lab\'s')
    p.add_argument('-o', '--output', choices=('text', *FORMATS), default='text',
                   help='text: AWS version 2 records as AWS writes them (what --file reads; the default), '
                        'table, json (describe-flow-logs and the records) or csv')


def eni_of(lab, name):
    """An ENI id, also when given as an instance's name (which needs the lab's topology)."""
    if name is None or name.startswith('eni-'):
        return name
    try:
        return lab.topology.instance(name).eni
    except KeyError:
        raise UsageError(f'no instance or ENI named {name!r} in the running lab') from None


def flow_logs(lab, args):
    eni = eni_of(lab, args.eni)
    if args.file is None:
        path = lab.flow_log_path
        records = flowlogs.read(path) if os.path.exists(path) else []     # nothing logged yet
    else:
        try:
            records = flowlogs.read(args.file, strict=True)
        except OSError as exc:
            raise UsageError(f'{args.file}: {exc.strerror or exc}') from None
        except ValueError as exc:
            raise UsageError(f'{args.file}: {exc}') from None
    records = flowlogs.select(records, eni=eni, address=args.address, port=args.port, action=args.action)
    if args.output == 'text':
        return '\n'.join(flowlogs.lines(records))
    fields = HEADER.split()
    return render(Report([Table(tuple(fields), [tuple(r[f] for f in fields) for r in records],
                                empty='(no records)')],
                         aws.describe_flow_logs(lab.topology if args.file is None else None, records)), args)
