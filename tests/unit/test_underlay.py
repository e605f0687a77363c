"""The physical network's static flows and the names of everything a lab creates."""
import pytest

from testbed.fabric import cables, links, underlay
from testbed.fabric.names import Names, nic_mac
from testbed.topology import loads

UL0_MAC = '02:ff:00:00:00:01'


def fabric(spines, racks):
    """racks: {az: {rack: hosts}}"""
    lines = ['format: 1', 'fabric:', f'  spines: {spines}', '  azs:']
    for az, rs in racks.items():
        lines += [f'    {az}:', '      racks:']
        lines += [f'        {r}: {{hosts: {n}}}' for r, n in rs.items()]
    return loads('\n'.join(lines) + '\n')


@pytest.fixture(scope='module')
def topo():
    return fabric(2, {'use1-az1': {'r1': 2, 'r2': 3}, 'use1-az2': {'r3': 1}})


def parse(flow):
    """'k=v,k2,...,actions=a,b' -> ({k: v, k2: None}, [a, b])"""
    match, actions = flow.split(',actions=')
    fields = dict((kv.split('=', 1) + [None])[:2] for kv in match.split(','))
    return fields, actions.split(',')


def by_dst(flows):
    out = {}
    for f in flows:
        m, a = parse(f)
        assert m['dl_dst'] not in out, 'two flows for one destination'
        assert len(a) == 1 and a[0].startswith('output:')
        out[m['dl_dst']] = int(a[0].split(':')[1])
    return out


# ---- ul0: every host's NIC ----------------------------------------------------------

def test_ul0_sends_each_outer_source_out_of_its_hosts_port(topo):
    egress = [parse(f) for f in underlay.ul0_flows(topo, UL0_MAC)]
    egress = {m['nw_src']: a for m, a in egress if m.get('in_port') == 'LOCAL' and 'nw_src' in m}
    assert len(egress) == len(topo.hosts)
    for h in topo.hosts.values():
        assert egress[h.underlay_ip] == [f'mod_dl_src:{nic_mac(h)}', f'output:{h.index}']


def test_ul0_delivers_to_local_only_its_hosts_mac_and_ip(topo):
    to_local = [(m, a) for m, a in map(parse, underlay.ul0_flows(topo, UL0_MAC)) if a[-1] == 'LOCAL']
    got = sorted((int(m['in_port']), m['dl_dst'], m['nw_dst']) for m, _ in to_local)
    want = sorted((h.index, nic_mac(h), h.underlay_ip) for h in topo.hosts.values())
    assert got == want
    assert all(a == [f'mod_dl_dst:{UL0_MAC}', 'LOCAL'] and 'ip' in m for m, a in to_local)


def test_ul0_one_arp_responder_per_host(topo):
    arp = [f for f in underlay.ul0_flows(topo, UL0_MAC) if 'arp_tpa=' in f]
    for h in topo.hosts.values():
        mine = [f for f in arp if f'arp_tpa={h.underlay_ip},' in f]
        assert len(mine) == 1
        assert f'set_field:{nic_mac(h)}->arp_sha' in mine[0]
        assert f'set_field:{h.underlay_ip}->arp_spa' in mine[0]
    assert len(arp) == len(topo.hosts)
    assert len(underlay.ul0_flows(topo, UL0_MAC)) == 3 * len(topo.hosts)


def test_nic_macs_distinct_unicast(topo):
    macs = [nic_mac(h) for h in topo.hosts.values()]
    assert len(set(macs)) == len(macs)
    assert all(int(m.split(':')[0], 16) & 1 == 0 for m in macs)


def test_a_capture_copies_both_directions_of_the_cable_and_takes_injected_frames(topo):
    h = topo.hosts['r2-h1']
    port = cables.capture_port(h)
    normal = underlay.ul0_flows(topo, UL0_MAC)
    flows = [parse(f) for f in underlay.capture_flows(h, UL0_MAC, port)]
    egress, ingress, injected, rest = flows
    assert egress[1] == [f'mod_dl_src:{nic_mac(h)}', f'output:{port}', f'output:{h.index}']
    assert ingress[1] == [f'output:{port}', f'mod_dl_dst:{UL0_MAC}', 'LOCAL']
    assert injected[0]['in_port'] == str(port) and injected[1] == [f'mod_dl_dst:{UL0_MAC}', 'LOCAL']
    assert rest == ({'priority': '1', 'in_port': str(h.index)}, [f'output:{port}'])
    # the copies replace the host's own flows: the same match and priority
    matches = {f.split(',actions=')[0] for f in normal}
    assert {f.split(',actions=')[0] for f in underlay.capture_flows(h, UL0_MAC, port)[:2]} <= matches
    assert port > underlay.UPLINK_BASE + 64 and port != 60000


def test_a_patch_is_two_ports_that_name_each_other():
    args = cables.patch_args(cables.Patch('vl_ul0', 3, 'vl_n3', 'vl_tor1', 3, 'vl_tp3'))
    assert ' '.join(args) == (
        '-- add-port vl_ul0 vl_n3 -- set interface vl_n3 type=patch options:peer=vl_tp3 ofport_request=3 '
        '-- add-port vl_tor1 vl_tp3 -- set interface vl_tp3 type=patch options:peer=vl_n3 ofport_request=3')


@pytest.mark.parametrize('method, conditions, veth', [
    (links.NONE, {}, set()),
    (links.DELAYLINE, {'uplink': (5, 0)}, {'uplink'}),
    (links.NETEM, {'nic': (1, 0), 'uplink': (0, 1)}, {'nic', 'uplink'}),
])
def test_only_conditioned_kinds_of_cable_stay_veths(method, conditions, veth):
    text = ', '.join(f'{k}: {{delay_ms: {d}, loss_percent: {loss}}}' for k, (d, loss) in conditions.items())
    t = loads('fabric:\n  links: {' + text + '}\n  azs: {a: {racks: {r1: {hosts: 1}}}}\n') if conditions else \
        fabric(1, {'a': {'r1': 1}})
    conditioner = links.LinkConditioner(t, Names(), record=None, method=method)
    assert {k for k in ('nic', 'uplink') if conditioner.conditioned(k)} == veth


# ---- ToRs and spines ------------------------------------------------------------------

def test_tor_sends_local_hosts_to_their_port_and_others_up(topo):
    for rack in topo.racks:
        out = by_dst(underlay.tor_flows(topo, rack))
        assert len(out) == len(topo.hosts)
        for h in topo.hosts.values():
            if h.rack == rack:
                assert out[nic_mac(h)] == h.index
            else:
                assert out[nic_mac(h)] == underlay.UPLINK_BASE + underlay.spine_for(h, topo.spines)
                assert underlay.UPLINK_BASE < out[nic_mac(h)] <= underlay.UPLINK_BASE + topo.spines


def test_spines_send_to_the_racks_index(topo):
    racks = underlay.rack_indexes(topo)
    assert sorted(racks.values()) == list(range(1, len(topo.racks) + 1))
    out = by_dst(underlay.spine_flows(topo))
    assert out == {nic_mac(h): racks[h.rack] for h in topo.hosts.values()}


def test_two_spines_are_both_used(topo):
    uplinks = {p for p in by_dst(underlay.tor_flows(topo, 'r1')).values()
               if p >= underlay.UPLINK_BASE}
    assert uplinks == {underlay.UPLINK_BASE + 1, underlay.UPLINK_BASE + 2}


def test_a_destination_crosses_the_same_spine_from_every_rack(topo):
    for h in topo.hosts.values():
        ups = {by_dst(underlay.tor_flows(topo, r))[nic_mac(h)] for r in topo.racks if r != h.rack}
        assert len(ups) == 1


def test_one_spine_carries_everything():
    t = fabric(1, {'use1-az1': {'r1': 2, 'r2': 2}})
    ups = set(by_dst(underlay.tor_flows(t, 'r1')).values()) - {1, 2}
    assert ups == {underlay.UPLINK_BASE + 1}


# ---- names ----------------------------------------------------------------------------

@pytest.fixture(scope='module')
def big():
    """At the loader's limits: 1000 hosts (its maximum), host names of 12 characters
    (its maximum), hundreds of racks."""
    racks = {f'rk-{i:05d}': 1 for i in range(1, 991)}
    racks['rk-99999'] = 10                                    # rk-99999-h10: 12 characters
    t = fabric(4, {'use1-az1': racks})
    assert len(t.hosts) == 1000 and max(len(h) for h in t.hosts) == 12
    return t


def all_names(nm, topo, instances=100000):
    racks = underlay.rack_indexes(topo)
    names = [nm.underlay()]
    for h in topo.hosts.values():
        names += [nm.hypervisor(h), nm.tunnel(h), nm.nic(h), nm.nic_patch(h), nm.nic_mirror(h), nm.tor_port(h)]
    for r in racks.values():
        names.append(nm.tor(r))
        for k in range(1, topo.spines + 1):
            names += [nm.uplink(r, k), nm.downlink(k, r)]
    names += [nm.spine(k) for k in range(1, topo.spines + 1)]
    names += [nm.instance_port(i) for i in range(1, instances + 1)]
    return names


def test_names_fit_linux_limit_at_the_loaders_limits(big):
    too_long = [n for n in all_names(Names('vl_'), big) if len(n) > 15]
    assert too_long == [], f'{len(too_long)} names over 15 characters, e.g. {too_long[:3]}'


def test_names_distinct_and_prefixed(big):
    names = all_names(Names('vl_'), big)
    assert len(set(names)) == len(names)
    assert all(n.startswith('vl_') for n in names)


def test_names_distinct_on_small_fabric(topo):
    names = all_names(Names('ab_'), topo, instances=50)
    assert len(set(names)) == len(names) and all(n.startswith('ab_') for n in names)


@pytest.mark.parametrize('prefix', ['bad', 'vl', 'vl__', '', 'v_x'])
def test_bad_prefix_is_refused(prefix):
    with pytest.raises(ValueError):
        Names(prefix)
