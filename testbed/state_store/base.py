"""What every state store backend offers (see the package docstring).

Membership: a node `join`s with a lease of `ttl` seconds and must `keepalive` within it; `members()`
lists the nodes whose lease still runs.  A node that misses its lease is gone until it joins again.

Port blocks: a NAT gateway's source ports are cut into blocks (the NAT module says how big); a node
claims a whole block for a gateway and a scope (`'*'`: the gateway as a whole, or a destination
such as `'tcp/198.51.100.10/80'`) in one atomic step, so no two nodes ever hold the same block.
Blocks are not tied to the claimer's lease: after a node's loss the node adopting its flows takes
its blocks over with `transfer_block` (compare-and-swap on the owner), since those flows still use
the ports; `release_block` frees one.  Claims are the only store operation a NAT node makes, and
never per packet: a node claims a new block when its own blocks have no free port left.
"""
from abc import ABC, abstractmethod

ANY = '*'


class StoreError(Exception):
    pass


class Store(ABC):
    # --- membership ---------------------------------------------------------------------------
    @abstractmethod
    def join(self, node, ttl):
        """`node` is alive for `ttl` seconds (again, if it had left or lapsed)."""

    @abstractmethod
    def keepalive(self, node):
        """Renews `node`'s lease; False if it had lapsed (the node must join again)."""

    @abstractmethod
    def leave(self, node):
        """`node` is gone now."""

    @abstractmethod
    def members(self):
        """The names of the nodes whose lease runs, sorted."""

    # --- port blocks --------------------------------------------------------------------------
    @abstractmethod
    def claim_block(self, gateway, node, count, scope=ANY):
        """The lowest free block index below `count`, now `node`'s, or None if all are held."""

    @abstractmethod
    def release_block(self, gateway, index, node, scope=ANY):
        """Frees the block if `node` holds it; True if it did."""

    @abstractmethod
    def transfer_block(self, gateway, index, from_node, to_node, scope=ANY):
        """The block becomes `to_node`'s if `from_node` holds it (compare-and-swap); True if so."""

    @abstractmethod
    def blocks(self, gateway, scope=ANY):
        """{block index: owner} of the gateway's claimed blocks in `scope`."""

    def blocks_of(self, gateway, node, scope=ANY):
        return sorted(i for i, owner in self.blocks(gateway, scope).items() if owner == node)

    def close(self):  # noqa: B027 (most backends hold nothing to close)
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
