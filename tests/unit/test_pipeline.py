"""The pipeline declaration: stages, cookies, drop reasons, and the docs that embed it."""
import pathlib

import pytest

from controllers import pipeline as P

KINDS = [P.KIND_BASE, P.KIND_LOCAL, P.KIND_CACHE, P.KIND_DROP, P.KIND_MISS, P.KIND_GATEWAY,
         P.KIND_SG, P.KIND_FIREWALL, P.KIND_FLOW_LOG, P.KIND_DHCP]
ROOT = pathlib.Path(P.__file__).resolve().parent.parent


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('ident', [0, 1, 0xabcdef, 2 ** 48 - 1])
def test_cookie_round_trip(kind, ident):
    c = P.cookie(kind, ident)
    assert (P.cookie_kind(c), P.cookie_ident(c)) == (kind, ident)
    assert c & P.KIND_MASK == kind << P.KIND_SHIFT
    assert 0 <= c < 2 ** 64


def test_kinds_are_distinct_and_nonzero():
    assert len(set(KINDS)) == len(KINDS) and 0 not in KINDS
    assert P.cookie_kind(0) == 0          # a flow without owner is never taken for one


def test_drop_reasons_unique_and_fit_in_a_cookie():
    assert len(set(P.DROP_REASONS.values())) == len(P.DROP_REASONS)
    assert P.REASON_CODE == {n: c for c, n in P.DROP_REASONS.items()}
    assert all(0 < c < 2 ** P.KIND_SHIFT for c in P.DROP_REASONS)
    for _name, code in P.REASON_CODE.items():
        assert P.cookie_ident(P.drop_cookie(_name)) == code
    assert set(P.ALERTING_REASONS) <= set(P.REASON_CODE)


def test_stages_are_numbered_in_journey_order_and_every_reason_has_a_stage():
    numbers = [s.table for s in P.STAGES]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert P.STAGES[0].table == 0 == P.CLASSIFY     # OpenFlow starts every packet in table 0
    assert len({s.name for s in P.STAGES}) == len(P.STAGES)
    assert {r for s in P.STAGES for r in s.reasons} == set(P.REASON_CODE)
    assert all(getattr(P, s.name) == s.table for s in P.STAGES)     # the old int constants


@pytest.mark.parametrize('which', ['CLASSIFY', 'classify', '0', 0, ' Classify '])
def test_a_stage_by_name_or_number(which):
    s = P.stage(which)
    assert (s.table, s.name, s.reasons[0]) == (0, 'CLASSIFY', 'spoofed-source')
    assert P.stage('check').step.startswith('7')


@pytest.mark.parametrize('which', ['NOPE', 5, '-1', ''])
def test_an_unknown_stage_says_which_exist(which):
    with pytest.raises(KeyError, match='CLASSIFY'):
        P.stage(which)


@pytest.mark.parametrize('doc', P.DOCS)
def test_docs_embed_the_declared_table(doc):
    text = (ROOT / doc).read_text()
    assert P.embed(text) == text, f'{doc} drifted: run python -m controllers.pipeline --update-docs'


def test_ovs_table_names_name_every_stage_on_every_bridge():
    args = P.ovs_table_names(['vl_a', 'vl_b'])
    assert args.count('flow_table') == len(P.STAGES) and args.count('bridge') == 2
    assert 'flow_tables:60=@t60' in args and 'name=CHECK' in args and 'groups="NXM_NX_REG3[]"' in args
