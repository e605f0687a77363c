"""The fake switch's conjunctive matches against ovs-fields(7)'s own example and its subtleties."""
import pytest
from fakeswitch import FakeSwitch, value

from controllers import pipeline as P
from controllers.router import ofp

T = P.EGRESS_SG_RULES


def conj(*parts):
    return [ofp.parser.NXActionConjunction(clause, n, ident) for ident, clause, n in parts]


def switch(*extra):
    """conj_id=1234 goes on; ip_src in {.1, .4} (clause 1 of 2) and ip_dst in {.2, .7} (2 of 2)."""
    flows = [ofp.flow(T, 50, ofp.match(conj_id=1234, eth_type=ofp.IP), goto=P.EGRESS_NACL),
             ofp.drop(T, 0, ofp.match(), 'security-group')]
    flows += [ofp.flow(T, 50, ofp.match(eth_type=ofp.IP, ipv4_src=ip), conj((1234, 0, 2)))
              for ip in ('10.0.0.1', '10.0.0.4')]
    flows += [ofp.flow(T, 50, ofp.match(eth_type=ofp.IP, ipv4_dst=ip), conj((1234, 1, 2)))
              for ip in ('10.0.0.2', '10.0.0.7')]
    return FakeSwitch().apply(flows + list(extra))


def decided(sw, src, dst):
    f = sw.lookup(T, dict(eth_type=ofp.IP, ipv4_src=value('ipv4_src', src), ipv4_dst=value('ipv4_dst', dst)))
    return 'on' if f.goto() == P.EGRESS_NACL else 'drop'


@pytest.mark.parametrize('src,dst,verdict', [('10.0.0.1', '10.0.0.2', 'on'), ('10.0.0.4', '10.0.0.7', 'on'),
                                             ('10.0.0.1', '10.0.0.5', 'drop'), ('10.0.0.3', '10.0.0.2', 'drop')])
def test_a_packet_matches_when_every_clause_has_a_flow(src, dst, verdict):
    sw = switch()
    assert decided(sw, src, dst) == verdict and sw.check_conjunctions() == 1


def test_a_higher_flow_wins_and_a_missing_conj_id_flow_lets_the_search_go_on():
    higher = ofp.drop(T, 60, ofp.match(eth_type=ofp.IP, ipv4_src='10.0.0.1'), 'security-group')
    assert decided(switch(higher), '10.0.0.1', '10.0.0.2') == 'drop'
    sw = switch()
    sw.apply([ofp.delete_strict(T, 50, ofp.match(conj_id=1234, eth_type=ofp.IP))])
    assert decided(sw, '10.0.0.1', '10.0.0.2') == 'drop'
    with pytest.raises(AssertionError, match='no conj_id flow'):
        sw.check_conjunctions()


def test_what_ovs_refuses_or_leaves_undefined_is_caught():
    with pytest.raises(AssertionError, match='other actions'):
        FakeSwitch().apply([ofp.flow(T, 50, ofp.match(), conj((1, 0, 2)) + [ofp.output(1)])])
    one_clause = switch()
    one_clause.apply([ofp.delete_strict(T, 50, ofp.match(eth_type=ofp.IP, ipv4_dst=ip))
                      for ip in ('10.0.0.2', '10.0.0.7')])
    with pytest.raises(AssertionError, match='clauses'):
        one_clause.check_conjunctions()
    other_priority = switch(ofp.flow(T, 40, ofp.match(eth_type=ofp.IP, ipv4_dst='10.0.0.8'), conj((1234, 1, 2))))
    with pytest.raises(AssertionError, match='priorities'):
        other_priority.check_conjunctions()
