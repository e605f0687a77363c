"""Flows per host with AWS's default group (it admits its own members): a structural fact of the
conjunctions, not a timing.  Each ENI's rule naming the group costs it a flow, each member a flow;
before conjunctions it was a flow per ENI and member (255,529 flows on a host at 1,000 instances
over 4 hosts; python tests/unit/flowcount.py measures any checkout)."""
from flowcount import flows_on


def test_flows_per_host_grow_linearly_with_the_default_group():
    (total_100, rules_100), (total_1000, rules_1000) = flows_on(100), flows_on(1000)
    assert total_1000 / total_100 < 15 and rules_1000 / rules_100 < 15
    enis, members = 1000 // 4, 1000
    assert rules_1000 <= 4 * enis + members + 20          # default deny x2, outbound, clause 0 per ENI
