"""Shuffle sharding: deterministic shards, no refill after a failure, and seed 002's tables."""
import pytest

from testbed.appliances.hyperplane import sharding as s

NODES = [f'hp{i}' for i in range(1, 9)]


def test_a_shard_is_a_deterministic_choice_from_the_id():
    a = s.shard('nat-0a1b', NODES, 3)
    assert len(a) == len(set(a)) == 3 and set(a) <= set(NODES)
    assert s.shard('nat-0a1b', list(reversed(NODES)), 3) == a     # the order of nodes does not matter
    assert len({tuple(s.shard(f'nat-{i}', NODES, 3)) for i in range(50)}) > 20
    assert s.shards(['x', 'y'], NODES, 2) == {'x': s.shard('x', NODES, 2), 'y': s.shard('y', NODES, 2)}


def test_a_failed_node_is_not_refilled_from_the_healthy_ones():
    full = s.shard('lb-web', NODES, 3)
    assert s.shard('lb-web', NODES, 3, failed=[full[1]]) == [full[0], full[2]]
    outside = next(n for n in NODES if n not in full)
    assert s.shard('lb-web', NODES, 3, failed=[outside]) == full
    assert s.shard('lb-web', NODES, 3, failed=full) == []


def test_adding_a_node_moves_a_resource_only_onto_the_new_node():
    for i in range(40):
        before, after = s.shard(f'r{i}', NODES, 3), s.shard(f'r{i}', NODES + ['hp9'], 3)
        assert set(after) - set(before) <= {'hp9'}


@pytest.mark.parametrize('size', [0, 9])
def test_shard_size_must_fit_the_nodes(size):
    with pytest.raises(ValueError, match='between 1 and the number of nodes'):
        s.shard('x', NODES, size)


def test_the_seeds_tables_come_out_exactly():
    eight = s.overlap_distribution(8, 3)
    assert [s.percent(eight[j]) for j in range(4)] == [17.86, 53.57, 26.79, 1.79]
    assert sum(eight.values()) == 1 and eight[0].denominator == 28      # 10/56
    hundred = s.overlap_distribution(100, 5)
    assert [s.percent(hundred[j]) for j in range(3)] == [76.96, 21.14, 1.84]
    assert s.percent(hundred[3], 3) == 0.059
    assert sum(hundred.values()) == 1


def test_sampling_the_real_shards_agrees_with_the_exact_table():
    for nodes, size, pairs, tolerance in ((8, 3, 4000, 0.03), (100, 5, 1500, 0.035)):
        exact = s.overlap_distribution(nodes, size)
        sampled = s.sampled_overlap(nodes, size, pairs, seed=7)
        assert sum(sampled.values()) == pytest.approx(1)
        for j, p in exact.items():
            assert sampled[j] == pytest.approx(float(p), abs=tolerance), (nodes, j)
