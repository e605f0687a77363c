"""Changing a running lab's security groups: rules checked with the topology format's own
validation, pushed through the management API, done once every host has them.  (The short rule
syntax of the `security-group` command is in testbed/commands/firewall.py.)"""
import yaml

from testbed.errors import UsageError
from testbed.fabric.firewall_config import rule as rule_dict
from testbed.topology import firewall_format

DIRECTIONS = dict(firewall_format.DIRECTIONS)       # inbound -> from, outbound -> to


def check_group(topo, vpc, group):
    """The VPC model of `vpc`, if it has security group `group` (else a UsageError that names
    what there is)."""
    if vpc not in topo.vpcs:
        raise UsageError(f'no VPC named {vpc!r} in this lab; VPCs are: {", ".join(topo.vpcs)}')
    model = topo.vpcs[vpc]
    if group not in model.security_groups:
        raise UsageError(f'vpc {vpc} has no security group {group!r}; groups are: {", ".join(model.security_groups)}')
    return model


def validate(topo, vpc, group, inbound, outbound, current):
    """{'inbound': [...], 'outbound': [...]} as the API takes them; a direction given as None
    keeps `current` (the API's view of the group)."""
    model = check_group(topo, vpc, group)
    given = {d: rules for d, rules in (('inbound', inbound), ('outbound', outbound))
             if rules is not None}
    parsed = firewall_format.changed_group(yaml.safe_dump({group: given}), f'<new rules of {group}>',
                                           model, group)
    return {d: [rule_dict(r) for r in getattr(parsed, d)] if d in given else current[d]
            for d in DIRECTIONS}


def replace(api, topo, vpc, group, inbound=None, outbound=None, timeout=30.0):
    """The one way a running lab's group changes: rules checked as in the topology file (a
    direction given as None keeps its rules), pushed, and returned once every host has them.
    Returns the change number (None: nothing changed)."""
    check_group(topo, vpc, group)
    rules = validate(topo, vpc, group, inbound, outbound, api.security_group(vpc, group))
    change = api.set_security_group(vpc, group, **rules)
    api.wait_for_change(change, timeout, f'the change of security group {group}')
    return change
