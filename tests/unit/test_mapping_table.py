"""MappingTable: what each host cache must hold, and how changes reach it (pure logic)."""
import pytest

from controllers.mapping_table import MappingError, MappingTable

HOSTS = {'h1': '100.127.0.1', 'h2': '100.127.0.2', 'h3': '100.127.0.3', 'h4': '100.127.0.4'}
BLUE, RED, GREEN = 100, 101, 102
PEERS = {BLUE: {GREEN}, GREEN: {BLUE}}       # red is peered with nobody
# blue and red use the same IPs; web-1 and red-1 even share a host.
INSTANCES = [
    ('web-1', BLUE, '10.0.1.10', 'h1'),
    ('web-2', BLUE, '10.0.1.11', 'h2'),
    ('red-1', RED, '10.0.1.10', 'h1'),
    ('red-2', RED, '10.0.1.11', 'h4'),
    ('green-1', GREEN, '10.1.1.10', 'h3'),
]
WEB1, WEB2 = (BLUE, '10.0.1.10'), (BLUE, '10.0.1.11')
RED1, RED2 = (RED, '10.0.1.10'), (RED, '10.0.1.11')
GREEN1 = (GREEN, '10.1.1.10')


class Clock:
    def __init__(self, t=0.0):
        self.t = t

    def __call__(self):
        return self.t


def register(table, name, vni, ip, host):
    n = len(table.entries()) + 1
    return table.register(vni=vni, ip=ip, host=host, mac=f'0e:00:00:00:00:{n:02x}',
                          eni=f'eni-{name}', instance=name, subnet=f'sub-{vni}',
                          gateway_ip=ip.rsplit('.', 1)[0] + '.1', port_name=f'vl_i{n}')


def make(mode='proactive', clock=None):
    table = MappingTable(HOSTS, PEERS, mode, **({'clock': clock} if clock else {}))
    for inst in INSTANCES:
        register(table, *inst)
    return table


def keys(entries):
    return sorted(e.key for e in entries)


def fill(table):
    return {h: table.plan(h) for h in HOSTS}


# ---- proactive fill ----------------------------------------------------------------

def test_proactive_fill_gives_each_host_exactly_its_reachable_vpcs():
    plans = fill(make())
    assert keys(plans['h1'].upserts) == sorted([WEB1, WEB2, RED1, RED2, GREEN1])
    assert keys(plans['h2'].upserts) == sorted([WEB1, WEB2, GREEN1])   # blue + peered green
    assert keys(plans['h3'].upserts) == sorted([WEB1, WEB2, GREEN1])   # green + peered blue
    assert keys(plans['h4'].upserts) == sorted([RED1, RED2])           # red only
    assert all(not p.removals and not p.local_removals for p in plans.values())


def test_same_ips_in_two_tenants_never_cross():
    table = make()
    fill(table)
    assert {v for v, _ in table.cached('h4')} == {RED}
    assert {v for v, _ in table.cached('h2')} == {BLUE, GREEN}
    assert table.reachable_vnis('h4') == {RED}
    assert table.reachable_vnis('h2') == {BLUE, GREEN}


def test_fill_lists_local_instances_and_nothing_for_an_empty_host():
    table = MappingTable(dict(HOSTS, h5='100.127.0.5'), PEERS)
    for inst in INSTANCES:
        register(table, *inst)
    assert keys(table.plan('h1').local_upserts) == sorted([WEB1, RED1])
    assert not table.plan('h5')
    assert table.reachable_vnis('h5') == set()


def test_second_plan_without_change_is_empty():
    table = make()
    fill(table)
    assert not any(table.plan(h) for h in HOSTS)


def test_cached_reports_versions_pushed():
    table = make()
    fill(table)
    assert table.cached('h4') == {RED1: 1, RED2: 1}
    assert table.needed('h4') == {RED1, RED2}


# ---- reactive mode and lookups ---------------------------------------------------------

def test_reactive_pushes_nothing_until_a_lookup_subscribes():
    table = make('reactive')
    plans = fill(table)
    assert not any(p.upserts for p in plans.values())
    assert keys(plans['h1'].local_upserts) == sorted([WEB1, RED1])
    assert table.lookup(BLUE, '10.0.1.11', host='h1').instance == 'web-2'
    assert table.lookup(BLUE, '10.1.1.10') is not None       # no host: nobody subscribes
    # the lookup's reply is what fills the cache: nothing more to push
    assert table.cached('h1') == {WEB2: 1}
    assert not table.plan('h1')


def test_reactive_subscriber_hears_of_migration_and_deregistration():
    table = make('reactive')
    fill(table)
    table.lookup(BLUE, '10.0.1.11', host='h1')
    table.plan('h1')
    table.migrate('web-2', 'h3')
    assert [(e.key, e.version, e.host) for e in table.plan('h1').upserts] == [(WEB2, 2, 'h3')]
    table.deregister('web-2')
    assert table.plan('h1').removals == [WEB2]
    assert table.cached('h1') == {}


def test_lookup_across_peering_only_when_peered():
    table = make()
    assert table.lookup(BLUE, '10.1.1.10').instance == 'green-1'
    assert table.lookup(BLUE, '10.1.1.10', peered=False) is None
    assert table.lookup(RED, '10.1.1.10') is None               # red is not peered with green
    assert table.lookup(RED, '10.0.1.10').instance == 'red-1'   # same IP as web-1, other tenant
    assert table.lookup(BLUE, '10.0.1.10').instance == 'web-1'


def test_lookup_miss_does_not_subscribe():
    table = make('reactive')
    fill(table)
    assert table.lookup(BLUE, '10.0.9.9', host='h2') is None
    assert not table.plan('h2')


# ---- migration -------------------------------------------------------------------------

def test_migration_bumps_version_and_host_ip():
    table = make()
    old = table.entry_of('web-2')
    new = table.migrate('web-2', 'h3')
    assert (new.version, new.host, new.host_ip) == (2, 'h3', HOSTS['h3'])
    assert (new.ident, new.mac, new.key) == (old.ident, old.mac, old.key)
    assert table.entry_of('web-2') == new
    assert table.audit[-1]['action'] == 'migrate' and table.audit[-1]['from_host'] == 'h2'


def test_migration_updates_every_host_holding_the_entry():
    table = make()
    fill(table)
    inval = table.counters['invalidations']
    table.migrate('web-2', 'h3')
    plans = fill(table)
    for h in ('h1', 'h3'):       # still need blue: get version 2, pointing at h3
        assert [(e.key, e.version, e.host_ip) for e in plans[h].upserts] == \
            [(WEB2, 2, HOSTS['h3'])]
        assert not plans[h].removals
        assert table.cached(h)[WEB2] == 2
    assert not plans['h4']                                   # never had it
    assert table.counters['invalidations'] > inval


def test_migration_moves_the_local_entry():
    table = make()
    fill(table)
    table.migrate('web-2', 'h3')
    plans = fill(table)
    assert plans['h2'].local_removals == [WEB2] and not plans['h2'].local_upserts
    assert keys(plans['h3'].local_upserts) == [WEB2] and not plans['h3'].local_removals
    assert plans['h3'].local_upserts[0].version == 2


def test_host_that_no_longer_needs_a_vpc_gets_removals():
    table = make()
    fill(table)
    table.migrate('web-2', 'h3')        # h2 now runs nothing
    plan = table.plan('h2')
    assert plan.removals == sorted([WEB1, WEB2, GREEN1]) and not plan.upserts
    assert table.cached('h2') == {}
    assert table.reachable_vnis('h2') == set()


def test_migration_into_a_new_vpc_host_fills_it():
    table = make()
    fill(table)
    table.migrate('web-1', 'h4')        # h4 now runs red and blue
    plan = table.plan('h4')
    assert keys(plan.upserts) == sorted([WEB1, WEB2, GREEN1])
    assert keys(plan.local_upserts) == [WEB1]


# ---- deregistration --------------------------------------------------------------------

def test_deregister_removes_from_every_cache():
    table = make()
    fill(table)
    table.deregister('web-1')
    plans = fill(table)
    for h in ('h1', 'h2', 'h3'):
        assert WEB1 in plans[h].removals
        assert WEB1 not in table.cached(h)
    assert plans['h1'].local_removals == [WEB1]
    assert not plans['h4']
    assert RED1 in table.cached('h1')        # same IP, other tenant: untouched
    with pytest.raises(MappingError):
        table.entry_of('web-1')
    assert table.lookup(BLUE, '10.0.1.10') is None


# ---- convergence -----------------------------------------------------------------------

def test_ack_from_all_hosts_finishes_change_with_clock_seconds():
    clock = Clock(10.0)
    table = make(clock=clock)
    change = table.begin_change(dict(action='migrate', instance='web-2'), ['h1', 'h3'])
    assert table.pending() == {change: ['h1', 'h3']}
    clock.t = 10.5
    assert table.ack(change, 'h1') is None
    assert table.pending() == {change: ['h3']}
    clock.t = 12.25
    done = table.ack(change, 'h3')
    assert done == dict(action='migrate', instance='web-2', change=change, seconds=2.25)
    assert table.convergence == [done]
    assert table.pending() == {}
    assert table.ack(change, 'h3') is None          # already finished


def test_begin_change_without_hosts_and_distinct_ids():
    table = make()
    assert table.begin_change(dict(action='x'), []) is None
    a = table.begin_change(dict(action='x'), ['h1'])
    b = table.begin_change(dict(action='y'), ['h1'])
    assert a != b
    assert table.ack(b, 'h1')['action'] == 'y'
    assert table.pending() == {a: ['h1']}


# ---- errors ----------------------------------------------------------------------------

def test_errors_for_unknown_instance_or_host():
    table = make()
    with pytest.raises(MappingError):
        table.migrate('nobody', 'h1')
    with pytest.raises(MappingError):
        table.migrate('web-1', 'h9')
    with pytest.raises(MappingError):
        table.deregister('nobody')
    with pytest.raises(MappingError):
        register(table, 'new-1', BLUE, '10.0.1.20', 'h9')
    assert table.entry_of('web-1').host == 'h1'


def test_migrate_to_same_host_is_an_error():
    table = make()
    with pytest.raises(MappingError):
        table.migrate('web-1', 'h1')
    assert table.entry_of('web-1').version == 1
    assert table.counters['migrations'] == 0


def test_duplicate_register_of_same_address_is_an_error():
    table = make()
    with pytest.raises(MappingError):
        register(table, 'other', BLUE, '10.0.1.10', 'h2')
    assert table.lookup(BLUE, '10.0.1.10').instance == 'web-1'
    assert table.counters['registrations'] == len(INSTANCES)


def test_duplicate_register_of_same_instance_name_is_an_error():
    table = make()
    with pytest.raises(MappingError):
        register(table, 'web-1', BLUE, '10.0.1.99', 'h2')
    # the original entry must still be reachable by name and removable
    assert table.entry_of('web-1').ip == '10.0.1.10'
    assert [e.instance for e in table.entries()].count('web-1') == 1


# ---- counters --------------------------------------------------------------------------

def test_counters_are_exact():
    table = make()
    fill(table)                                  # 5 + 3 + 3 + 2 entries pushed
    table.lookup(BLUE, '10.0.1.11')              # hit
    table.lookup(BLUE, '10.1.1.10')              # hit through peering
    table.lookup(RED, '10.1.1.10')               # miss
    table.lookup(BLUE, '10.1.1.10', peered=False)  # miss
    table.migrate('web-2', 'h3')
    table.plan('h1')                             # replaces web-2: push + invalidation
    table.plan('h3')                             # same
    c = table.counters
    assert (c['lookups'], c['lookup_hits'], c['lookup_misses']) == (4, 2, 2)
    assert c['pushes'] == 13 + 2
    assert c['invalidations'] == 2
    assert (c['registrations'], c['migrations'], c['deregistrations']) == (5, 1, 0)


def test_removals_count_as_invalidations():
    table = make()
    fill(table)
    table.deregister('green-1')                  # cached on h1, h2 (and its own h3)
    assert table.plan('h1').removals == [GREEN1]
    assert table.plan('h2').removals == [GREEN1]
    assert table.counters['invalidations'] == 2
    assert table.counters['pushes'] == 13
    assert table.counters['deregistrations'] == 1
