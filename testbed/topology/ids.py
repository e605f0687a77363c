"""Ids and MACs: deterministic, AWS-like, derived from the topology name (docs/topology-format.md)."""
from __future__ import annotations

import hashlib


class Ids:
    """The ids and MACs of one file: the same file always gives the same ones."""

    def __init__(self, topology_name: str):
        self.name = topology_name
        self.macs: set[int] = set()

    def _digest(self, kind: str, name: str) -> str:
        text = "\0".join((self.name, kind, name))
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def id(self, prefix: str, name: str) -> str:
        return f"{prefix}-{self._digest(prefix, name)[:17]}"

    def mac(self, instance: str) -> str:
        # 0e: is a locally administered unicast first byte, as AWS's ENIs use; bump on a collision.
        value = int(self._digest("mac", instance)[:10], 16)
        while value in self.macs:
            value = (value + 1) % 2 ** 40
        self.macs.add(value)
        return ":".join(["0e"] + [f"{b:02x}" for b in value.to_bytes(5, "big")])
