"""The pure rule logic of the firewall stages (controllers/router/rules.py, security_groups.py,
network_acl.py, route_table.py) and the flow-log book (flow_log.py): no root, no OVS.  What their
flows do to packets is in test_journeys.py."""
import random
from types import SimpleNamespace

import pytest

from controllers import pipeline as P
from controllers.router import network_acl, route_table, rules
from controllers.router import security_groups as F
from controllers.router.flow_log import HEADER, FlowKey, FlowLogBook, parse
from controllers.router.rules import Match


def covered(pairs):
    return {p for p in range(65536) for value, mask in pairs if value is None or p & mask == value}


@pytest.mark.parametrize('first,last', [(80, 80), (22, 23), (0, 65535), (1024, 65535), (0, 0), (5000, 5001)]
                         + [tuple(sorted(random.Random(n).sample(range(65536), 2))) for n in range(8)])
def test_port_masks_cover_exactly_the_range(first, last):
    pairs = rules.port_masks(first, last)
    assert covered(pairs) == set(range(first, last + 1))
    assert len(pairs) <= 32                      # a range needs at most 2 x 16 prefixes


def rule(protocol=None, ports=None, peer='0.0.0.0/0', number=None, action='allow'):
    return dict(protocol=protocol, ports=ports, peer=peer, number=number, action=action)


def entry(ip, groups, host='h1', vni=100):
    return SimpleNamespace(ip=ip, vni=vni, host=host, security_groups=tuple(groups), key=(vni, ip))


GROUPS = {100: {'web': dict(inbound=[rule(6, [80, 80]), rule(6, [22, 22], 'sg:admin')],
                            outbound=[rule()]),
                'admin': dict(inbound=[], outbound=[rule()]),
                'db': dict(inbound=[rule(6, [5432, 5432], 'sg:web')], outbound=[])}}


def test_an_eni_allows_the_union_of_its_groups_and_sg_names_the_group():
    m = F.security_group_matches(GROUPS[100], ('web', 'db'))
    assert set(m['inbound']) == {Match(6, '0.0.0.0/0', 80, 0xffff), Match(6, 'sg:admin', 22, 0xffff),
                                 Match(6, 'sg:web', 5432, 0xffff)}
    assert m['outbound'] == [Match(None, '0.0.0.0/0', None, None)]
    assert F.security_group_matches(GROUPS[100], ('admin',))['inbound'] == []
    assert F.named_groups(m) == {'admin', 'web'}
    entries = [entry('10.0.1.10', ['web', 'db']), entry('10.0.1.20', ['admin']), entry('10.0.1.21', ['admin'])]
    assert F.members(entries) == {(100, 'web'): {'10.0.1.10/32'}, (100, 'db'): {'10.0.1.10/32'},
                                  (100, 'admin'): {'10.0.1.20/32', '10.0.1.21/32'}}


def test_membership_changes_reach_only_hosts_whose_rules_name_the_group_as_members():
    book = F.SecurityGroupBook(GROUPS)
    web, admin = entry('10.0.1.10', ['web'], 'h1'), entry('10.0.1.20', ['admin'], 'h2')
    assert book.changes_for('h1', [web, admin]) == ({web.key: F.security_group_matches(GROUPS[100], ['web'])},
                                                   {(100, 'admin'): {'10.0.1.20/32'}})
    assert set(book.changes_for('h2', [web, admin])[0]) == {admin.key}
    assert book.changes_for('h1', [web, admin]) == ({}, {})                  # nothing new
    assert book.changes_for('h1', [web]) == ({}, {(100, 'admin'): set()})    # admin terminated: members only
    assert book.changes_for('h2', [web]) == ({}, {})
    moved = entry('10.0.1.20', ['admin'], 'h1')                              # admin migrated to h1
    assert book.changes_for('h1', [web, moved]) == ({moved.key: F.security_group_matches(GROUPS[100], ['admin'])},
                                                    {(100, 'admin'): {'10.0.1.20/32'}})
    book.set_rules(100, 'admin', [rule(6, [8080, 8080])], [rule()])
    assert set(book.changes_for('h1', [web, moved])[0]) == {moved.key}
    book.set_rules(100, 'web', [rule(6, [80, 80])], [rule()])                # names admin no more
    assert book.changes_for('h1', [web, moved]) == ({web.key: F.security_group_matches(book.groups[100], ['web'])},
                                                    {(100, 'admin'): set()})
    with pytest.raises(KeyError):
        book.set_rules(100, 'nope', [], [])


def test_acl_rules_are_evaluated_lowest_number_first():
    entries = network_acl.acl_entries([rule(6, [80, 80], '10.0.1.0/24', 200, 'deny'),
                                       rule(None, None, '0.0.0.0/0', 100)])
    by_number = sorted(entries, key=lambda e: -e[0])
    assert [allow for _, _, allow in by_number] == [True, False]


def test_routes_longest_prefix_wins_and_unbuilt_targets_say_why():
    routes = [dict(destination='10.0.0.0/16', target='local'), dict(destination='0.0.0.0/0', target='igw'),
              dict(destination='10.9.0.0/16', target='nat:ngw-1'), dict(destination='10.8.0.0/16', target='blackhole'),
              dict(destination='10.1.0.0/16', target='pcx:blue-green', vni=200)]
    entries = route_table.route_entries(routes, 100)
    assert [(r, p) for p, _, r, _ in entries] == [(None, 116), ('target-not-built', 100), ('target-not-built', 116),
                                                  ('blackhole', 116), (None, 116)]
    assert [vni for *_, vni in entries] == [100] * 4 + [200]     # the VPC each route goes to
    assert {route_table.route_decision(t) for t in ('vgw', 'dx:x', 'vpce:s3')} == {'target-not-built'}


# ---- flow logs ------------------------------------------------------------------------------

def test_flow_log_counts_first_packets_and_learned_flow_deltas(tmp_path):
    now = [1000.0]
    book = FlowLogBook(str(tmp_path / 'log'), [dict(vni=100, flow_log_interval_s=2, account_id='123456789012')],
                       lambda: now[0])
    book.know(SimpleNamespace(ident=7, eni='eni-0abc', vni=100))
    key = FlowKey(7, P.LOG_ACCEPT, '10.0.1.30', '10.0.1.10', 43000, 5000, 17)
    book.count(key, 1, 142)                         # the first packet, via the controller
    book.observe(key, 2, 284)                       # the learned flow saw two more
    book.observe(key, 3, 426)                       # ... and one more by the next poll
    assert book.flush() == []                       # the interval is not over
    now[0] += 2
    (line,) = book.flush()
    assert line == '2 123456789012 eni-0abc 10.0.1.30 10.0.1.10 43000 5000 17 4 512 1000 1002 ACCEPT OK'
    book.observe(key, 3, 426, final=True)           # removed without new packets: nothing more
    now[0] += 2
    assert book.flush() == []
    text = (tmp_path / 'log').read_text().splitlines()
    assert text[0] == HEADER and parse(text[1])['packets'] == 4 and parse(text[0]) is None


# ---- the rule syntax of vpclab security-group and the flow-log filters ---------------------

def test_short_rule_syntax_edits_a_group_as_the_api_holds_it():
    from testbed.commands import firewall as S
    from testbed.errors import LabError
    group = dict(inbound=[rule(6, [80, 80]), rule(17, [5000, 5001], '10.0.0.0/16')], outbound=[rule()])
    added = S.edit(group, 'inbound', 'add', ['icmp', 'sg:web'])
    assert added[-1] == {'protocol': 'icmp', 'from': 'sg:web'}
    assert S.edit(group, 'inbound', 'remove', ['udp', '5000-5001', '10.0.0.0/16']) == \
        [{'protocol': 'tcp', 'ports': '80', 'from': '0.0.0.0/0'}]
    assert S.describe(group['outbound'][0]) == 'all all-ports 0.0.0.0/0'
    with pytest.raises(LabError):
        S.edit(group, 'inbound', 'remove', ['tcp', '22', '0.0.0.0/0'])
    with pytest.raises(LabError):
        S.edit(group, 'sideways', 'add', ['tcp', '22', '0.0.0.0/0'])


def test_flow_log_filters():
    from testbed.flowlogs import select
    recs = [dict(parse('2 1 eni-a 10.0.1.1 10.0.1.2 40000 80 6 3 180 0 2 ACCEPT OK')),
            dict(parse('2 1 eni-b 10.0.1.2 10.0.1.1 80 40000 6 3 180 0 2 REJECT OK'))]
    assert select(recs, eni='eni-a') == recs[:1]
    assert select(recs, address='10.0.1.2', port=40000) == recs
    assert select(recs, action='reject') == recs[1:]
