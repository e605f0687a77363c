"""Pipeline constants: cookies, drop reasons, and the table order."""
import ast
import pathlib

import pytest

from controllers import pipeline as P

KINDS = [P.KIND_BASE, P.KIND_LOCAL, P.KIND_CACHE, P.KIND_DROP, P.KIND_MISS, P.KIND_GATEWAY,
         P.KIND_SG, P.KIND_FIREWALL, P.KIND_FLOW_LOG]
TABLES = ['CLASSIFY', 'ARP', 'EGRESS_SG', 'EGRESS_SG_RULES', 'EGRESS_NACL', 'ROUTE_TABLE', 'MAPPING',
          'CHECK', 'DESTINATION', 'INGRESS_NACL', 'INGRESS_SG', 'INGRESS_SG_RULES', 'DELIVER',
          'FLOW_LOG']


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
        assert P.cookie_ident(P.cookie(P.KIND_DROP, code)) == code
    assert set(P.ALERTING_REASONS) <= set(P.REASON_CODE)


def test_tables_numbered_in_journey_order():
    numbers = [getattr(P, t) for t in TABLES]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert P.CLASSIFY == 0                # OpenFlow starts every packet in table 0


def test_every_goto_in_the_host_agent_moves_forward():
    """Static check of controllers/host_agent.py: fw.add(P.X, ..., goto=P.Y) needs Y > X."""
    src = pathlib.Path(P.__file__).with_name('host_agent.py').read_text()
    gotos = []
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Call) and getattr(node.func, 'attr', None) == 'add':
            goto = next((k.value for k in node.keywords if k.arg == 'goto'), None)
            if goto is not None and node.args:
                gotos.append((node.args[0].attr, goto.attr))
    assert gotos, 'no goto_table found: the check is not looking at the right code'
    backward = [(a, b) for a, b in gotos if getattr(P, b) <= getattr(P, a)]
    assert backward == []
