"""fabric.isolation without a lab: the settings written, the guard's one rule."""
import subprocess

import pytest

from testbed.fabric import isolation


def test_seal_writes_every_setting_and_unsealed_reads_them_back(tmp_path, monkeypatch):
    monkeypatch.setattr(isolation, 'PROC', str(tmp_path))
    for family in ('ipv4', 'ipv6'):
        (tmp_path / family / 'conf' / 'zq_i1').mkdir(parents=True)
    assert set(isolation.unsealed(['zq_i1'])['zq_i1']) == {*isolation.IPV4, *isolation.IPV6}
    isolation.seal(iter(['zq_i1']))
    assert (tmp_path / 'ipv6/conf/zq_i1/disable_ipv6').read_text() == '1\n'
    assert (tmp_path / 'ipv4/conf/zq_i1/arp_ignore').read_text() == '8\n'
    assert (tmp_path / 'ipv4/conf/zq_i1/rp_filter').read_text() == '1\n'
    assert isolation.unsealed(['zq_i1']) == {}
    (tmp_path / 'ipv4/conf/zq_i1/rp_filter').write_text('0\n')
    assert isolation.unsealed(['zq_i1']) == {'zq_i1': ['rp_filter']}


def test_ipv6_goes_off_before_anything_else():
    assert isolation.settings('x')[0][0].endswith('/ipv6/conf/x/disable_ipv6')


@pytest.mark.parametrize('prefix', ['', None, 'vl', 'vl_+', '*_', '-j_', 'a b_', 'vl__'])
def test_rule_takes_only_a_lab_prefix(prefix):
    with pytest.raises(ValueError):
        isolation.rule(prefix)


def test_guard_adds_one_rule_per_family_once_and_unguard_removes_only_it(monkeypatch):
    monkeypatch.setattr(isolation.shutil, 'which', lambda tool: '/usr/sbin/' + tool)
    rules = {}

    def run(cmd, **kwargs):
        tool, op, key = cmd[0], cmd[5], tuple(cmd[6:])
        assert cmd[1:6] == ['-w', '5', '-t', 'raw', op] and cmd[6] == 'PREROUTING'
        have = rules.setdefault(tool, [])
        rc = 0
        if op == '-C':
            rc = 0 if key in have else 1
        elif op == '-I':
            have.append(key)
        elif op == '-D':
            rc = 0 if key in have else 1
            if key in have:
                have.remove(key)
        return subprocess.CompletedProcess(cmd, rc, '', '')
    isolation.guard('zq_', run=run)
    isolation.guard('zq_', run=run)
    rules['iptables'].append(('PREROUTING', '-i', 'eth0', '-j', 'ACCEPT'))       # the host's own
    want = ('PREROUTING', '-i', 'zq_+', '-m', 'comment', '--comment', 'vpclab:zq_', '-j', 'DROP')
    assert rules == {'iptables': [want, rules['iptables'][1]], 'ip6tables': [want]}
    isolation.unguard('zq_', run=run)
    assert rules == {'iptables': [('PREROUTING', '-i', 'eth0', '-j', 'ACCEPT')], 'ip6tables': []}
