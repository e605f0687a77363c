"""The micro-benchmark helper: its arithmetic, and one very short smoke run with root (no timing asserted)."""
import os
import shutil

import pytest

from testbed.appliances import bench_loop
from testbed.appliances.packets import ETH_P_IP, build_eth, mac
from testbed.appliances.scratch_netns import ScratchNetns


def test_ratio_sums_the_rounds_of_each_variant():
    rows = [dict(variant='loop', forwarded_pps=90.0), dict(variant='minimal', forwarded_pps=100.0),
            dict(variant='loop', forwarded_pps=70.0), dict(variant='minimal', forwarded_pps=100.0)]
    assert bench_loop.ratio(rows) == pytest.approx(0.8)
    assert bench_loop.ratio([dict(variant='loop', forwarded_pps=5.0)]) is None


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which('ip') is None, reason='needs root and iproute2')
@pytest.mark.parametrize('variant', ['loop', 'minimal'])
def test_both_forwarders_forward(variant):
    frame = build_eth(mac('02:00:00:00:00:0b'), mac('02:00:00:00:00:0a'), ETH_P_IP, bytes(46))
    with ScratchNetns(pairs=2, tag=f'{os.getpid()}s') as ns:
        row = bench_loop.one_run(ns, variant, frame, 0.2)
    assert row['variant'] == variant and row['offered_pps'] > 0 and row['forwarded_pps'] > 0
