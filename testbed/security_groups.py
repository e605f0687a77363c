"""Changing a running lab's security groups: rules checked with the topology format's own
validation, and the short rule syntax of the `vpclab security-group` and shell commands:

    PROTOCOL [PORTS] PEER        e.g.  tcp 80 0.0.0.0/0   udp 5000-5001 10.0.0.0/16   all sg:web
"""
import yaml

from testbed.errors import LabError
from testbed.fabric.firewall_config import rule as rule_dict
from testbed.topology import firewall_format

DIRECTIONS = dict(firewall_format.DIRECTIONS)       # inbound -> from, outbound -> to
PROTOCOL_NAMES = {v: k for k, v in firewall_format.PROTOCOLS.items()}


def validate(topo, vpc, group, inbound, outbound, current):
    """{'inbound': [...], 'outbound': [...]} as the API takes them; a direction given as None
    keeps `current` (the API's view of the group)."""
    if vpc not in topo.vpcs:
        raise LabError(f'no VPC named {vpc!r} in this lab')
    model = topo.vpcs[vpc]
    if group not in model.security_groups:
        raise LabError('vpc {} has no security group {!r}; groups are: {}'.format(vpc, group, ', '.join(model.security_groups)))
    given = {d: rules for d, rules in (('inbound', inbound), ('outbound', outbound)) if rules is not None}
    parsed = firewall_format.changed_group(yaml.safe_dump({group: given}), f'<new rules of {group}>',
                                           model, group)
    return {d: [rule_dict(r) for r in getattr(parsed, d)] if d in given else current[d]
            for d in DIRECTIONS}


def replace(api, topo, vpc, group, inbound=None, outbound=None, timeout=30.0):
    """The one way a running lab's group changes: rules checked as in the topology file (a
    direction given as None keeps its rules), pushed, and returned once every host has them.
    Returns the change number (None: nothing changed)."""
    rules = validate(topo, vpc, group, inbound, outbound, api.security_group(vpc, group))
    change = api.set_security_group(vpc, group, **rules)
    api.wait_for_change(change, timeout, f'the change of security group {group}')
    return change


def from_words(words, direction):
    """['tcp', '80', '0.0.0.0/0'] -> the file's rule mapping for `direction`."""
    if len(words) not in (2, 3):
        raise LabError('a rule is PROTOCOL [PORTS] PEER, like: tcp 80 0.0.0.0/0')
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
        out['ports'] = str(first) if first == last else '%d-%d' % (first, last)
    return out


def describe(rule):
    form = to_file_form(rule, 'inbound')
    return ' '.join(str(x) for x in (form['protocol'], form.get('ports', 'all-ports'), form['from']))


def edit(group, direction, op, words):
    """The rules of `direction` of `group` (the API's view) after adding or removing `words`."""
    if direction not in DIRECTIONS or op not in ('add', 'remove'):
        raise LabError('use: add|remove inbound|outbound PROTOCOL [PORTS] PEER')
    rules = [to_file_form(r, direction) for r in group[direction]]
    rule = from_words(words, direction)
    if op == 'add':
        return rules + [rule]
    if rule not in rules:
        raise LabError('the group has no {} rule {}'.format(direction, ' '.join(words)))
    return [r for r in rules if r != rule]
