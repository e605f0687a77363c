"""Shuffle sharding: which Hyperplane nodes serve a resource, and how much two resources share.

Each resource (a NAT gateway's, an NLB's or an endpoint service's id) gets `shard_size` of the
`nodes`, chosen by rendezvous (highest-random-weight) hashing of (resource id, node name): every
node gets a score from a hash of the pair and the resource takes the best `shard_size`.  That is a
deterministic function of the id and the node names (no table to keep, every process computes the
same), each k-subset is equally likely, and adding a node to the fleet moves a resource only onto
the new node.

A failed node is not refilled from the healthy ones: `shard(..., failed=...)` is the shard over
all nodes minus the failed ones, so a resource whose nodes fail loses capacity rather than spilling
onto nodes that serve other customers (which is what would turn one customer's poison into
everyone's outage).

`overlap_distribution(nodes, shard_size)` is the exact probability that two resources share j nodes
(hypergeometric: C(k, j) C(n - k, k - j) / C(n, k)), as `Fraction`s; `sampled_overlap` measures the
same over `shard` itself.
"""
import hashlib
import random
from collections import Counter
from fractions import Fraction
from math import comb


def score(resource, node):
    """The rendezvous weight of `node` for `resource`: 64 bits of BLAKE2b of both names."""
    digest = hashlib.blake2b(f'{resource}\0{node}'.encode(), digest_size=8).digest()
    return int.from_bytes(digest, 'big')


def ranking(key, nodes):
    """`nodes` ordered best first for `key` (a resource id, or a flow's key within a shard)."""
    return sorted(nodes, key=lambda node: (-score(key, node), node))


def shard(resource, nodes, shard_size, failed=()):
    """The nodes serving `resource`: its best `shard_size` of all `nodes`, less the failed ones."""
    nodes = list(nodes)
    if not 0 < shard_size <= len(nodes):
        raise ValueError(f'shard_size {shard_size} must be between 1 and the number of nodes ({len(nodes)})')
    return [n for n in ranking(resource, nodes)[:shard_size] if n not in set(failed)]


BUCKETS = 8     # a resource's flows are spread over its live nodes in this many buckets


def bucket_of(ip, port=None):
    """The bucket of a flow by its client side: the low bits of its TCP/UDP port, or of its 4-byte
    address when it has none (ICMP).  OpenFlow matches it with one masked field (tcp_src=i/7), and
    a target's reply matches the same bits of its destination, so both directions meet one node."""
    return (ip[3] if port is None else port) & (BUCKETS - 1)


def bucket_owner(resource, bucket, live_nodes):
    """The live node taking `bucket` of `resource`: rendezvous again, so a node's loss moves only its
    buckets; None when no node is left."""
    ranked = ranking(f'{resource}#{bucket}', live_nodes)
    return ranked[0] if ranked else None


def shards(resources, nodes, shard_size, failed=()):
    """{resource: its shard} for every resource."""
    return {r: shard(r, nodes, shard_size, failed) for r in resources}


def overlap_distribution(nodes, shard_size):
    """{j: probability that two independently sharded resources share exactly j nodes}, exact."""
    n, k = nodes, shard_size
    if not 0 < k <= n:
        raise ValueError(f'shard_size {k} must be between 1 and the number of nodes ({n})')
    total = comb(n, k)
    return {j: Fraction(comb(k, j) * comb(n - k, k - j), total) for j in range(k + 1)}


def percent(fraction, digits=2):
    """A probability as a percentage rounded to `digits` (the seed's tables use 2, or 3 for 0.059)."""
    return round(float(fraction) * 100, digits)


def sampled_overlap(nodes, shard_size, pairs, seed=0):
    """{j: fraction of `pairs` random pairs of resource ids whose `shard`s share j nodes}."""
    names = [f'hp{i + 1}' for i in range(nodes)]
    rng = random.Random(seed)
    counts = Counter()
    for _ in range(pairs):
        a, b = (f'res-{rng.getrandbits(64):016x}' for _ in range(2))
        counts[len(set(shard(a, names, shard_size)) & set(shard(b, names, shard_size)))] += 1
    return {j: counts[j] / pairs for j in range(shard_size + 1)}
