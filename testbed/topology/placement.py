"""Placement: which physical host runs each instance.

A pure function of the model, so that one file always places the same way. Instances are placed in
file order; each takes the least-loaded host that its AZ, pin, placement group, tenancy and size
allow, so that traffic between instances crosses hosts (and the tunnel) as it would in EC2.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import NoReturn

from .instance_types import INSTANCE_TYPES
from .model import Instance, PhysicalHost, Topology, TopologyError


@dataclass
class _Load:
    """What one host already runs while a placement is computed."""
    host: PhysicalHost
    vcpus_free: float
    memory_free: float
    count: int = 0
    accounts: set = field(default_factory=set)
    dedicated_to: str | None = None  # account of a dedicated instance on this host

    def refusal(self, inst: Instance) -> str | None:
        """Why tenancy keeps inst off this host, or None. A dedicated host serves one account only."""
        if inst.tenancy == "dedicated" and self.accounts - {inst.account}:
            others = ", ".join(sorted(self.accounts - {inst.account}))
            return f"runs instances of account {others}, and {inst.name} has dedicated tenancy"
        if self.dedicated_to not in (None, inst.account):
            return f"holds a dedicated instance of account {self.dedicated_to}"
        return None

    def rank(self) -> tuple:
        """Least loaded first: fewest instances, then most free vCPUs, then fabric order."""
        return (self.count, -self.vcpus_free, self.host.index)

    def take(self, inst: Instance, vcpus: float, memory: float) -> None:
        self.vcpus_free -= vcpus
        self.memory_free -= memory
        self.count += 1
        self.accounts.add(inst.account)
        if inst.tenancy == "dedicated":
            self.dedicated_to = inst.account


def place(topology: Topology) -> dict[str, str]:
    """Map every instance name to the physical host it runs on; TopologyError if one does not fit."""
    return _Placer(topology).run()


class _Placer:
    """One placement run: what each host holds so far, and where each group's members went."""

    def __init__(self, topology: Topology):
        self.topology = topology
        self.loads = [_Load(h, h.vcpus, h.memory_gib) for h in topology.hosts.values()]
        self.by_name = {c.host.name: c for c in self.loads}
        self.members: dict[tuple[str, str], dict[str, str]] = {}  # (vpc, group) -> rack -> first member
        self.az_racks: dict[str, list[str]] = {}
        for rack in topology.racks.values():
            self.az_racks.setdefault(rack.az, []).append(rack.name)
        # Candidate hosts indexed by pool (an AZ, or a set of racks): a heap by rank, entries go stale
        # when their host takes an instance (the rank in the entry is then no longer the host's).
        self.pools: dict[object, list] = {}
        self.pools_of: dict[str, list[list]] = {c.host.name: [] for c in self.loads}

    def run(self) -> dict[str, str]:
        placed = {}
        for inst in self.topology.instances():
            vcpus, memory = INSTANCE_TYPES[inst.type]
            chosen = self.choose(inst, vcpus, memory)
            chosen.take(inst, vcpus, memory)
            for heap in self.pools_of[chosen.host.name]:
                heapq.heappush(heap, (chosen.rank(), chosen.host.name))
            if inst.placement_group:
                group = self.members.setdefault((inst.vpc, inst.placement_group), {})
                group.setdefault(chosen.host.rack, inst.name)
            placed[inst.name] = chosen.host.name
        return placed

    def choose(self, inst: Instance, vcpus: float, memory: float) -> _Load:
        """The least loaded host inst may use: from the pool's heap, else the full check says why none."""
        az = self.topology.subnet_of(inst.name).az
        if inst.pinned_host:
            pool = None
        elif inst.placement_group:
            racks, _, _ = self.group_racks(inst, az)
            spread = self.topology.vpcs[inst.vpc].placement_groups[inst.placement_group].strategy == "spread"
            # spread's racks shrink with every member: its members search the AZ's pool, skipping racks.
            pool = ("az", az) if spread else ("racks", frozenset(racks))
        else:
            pool, racks = ("az", az), None
        if pool is not None:
            chosen = self.best(pool, lambda c: c.host.az == az and (racks is None or c.host.rack in racks)
                               and c.refusal(inst) is None and c.vcpus_free >= vcpus and c.memory_free >= memory)
            if chosen is not None:
                return chosen
        return self.check(inst, az, vcpus, memory)

    def best(self, pool, eligible) -> _Load | None:
        """The best-ranked eligible host of a pool; the ineligible ones looked at stay in it."""
        heap = self.pools.get(pool)
        if heap is None:
            kind, where = pool
            members = [c for c in self.loads if (c.host.az == where if kind == "az" else c.host.rack in where)]
            heap = self.pools[pool] = [(c.rank(), c.host.name) for c in members]
            heapq.heapify(heap)
            for c in members:
                self.pools_of[c.host.name].append(heap)
        skipped, chosen = [], None
        while heap:
            rank, name = heapq.heappop(heap)
            load = self.by_name[name]
            if rank != load.rank():
                continue  # stale: the host took an instance since, and has a newer entry
            skipped.append((rank, name))
            if eligible(load):
                chosen = load
                break
        for entry in skipped:
            heapq.heappush(heap, entry)
        return chosen

    def check(self, inst: Instance, az: str, vcpus: float, memory: float) -> _Load:
        """Every candidate of inst, filtered step by step: the choice, or an error naming what ran out."""
        if inst.pinned_host:
            candidates = [self.by_name[inst.pinned_host]]
            label = f"pinned host {inst.pinned_host}"
        else:
            candidates, label = [c for c in self.loads if c.host.az == az], f"AZ {az}"
        if inst.placement_group:
            racks, group_label, why_none = self.group_racks(inst, az)
            candidates = [c for c in candidates if c.host.rack in racks]
            if not candidates:
                self.fail(inst, why_none)
            label = label if inst.pinned_host else group_label

        allowed = [c for c in candidates if c.refusal(inst) is None]
        if not allowed:
            first = candidates[0]
            if inst.pinned_host:
                self.fail(inst, f"pinned host {first.host.name} {first.refusal(inst)}; "
                                f"pin it to another host or remove host:")
            alternative = " or use tenancy: default" if inst.tenancy == "dedicated" else ""
            self.fail(inst, f"{label}: tenancy keeps {inst.name} off every candidate host "
                            f"({first.host.name} {first.refusal(inst)}); add hosts{alternative}")

        fitting = [c for c in allowed if c.vcpus_free >= vcpus and c.memory_free >= memory]
        if not fitting:
            most = max(allowed, key=lambda c: (c.vcpus_free, c.memory_free))
            self.fail(inst, f"{label} has no room for {inst.name} ({inst.type} needs {vcpus} vCPUs and "
                            f"{memory:g} GiB; the most free host, {most.host.name}, has {most.vcpus_free:g} "
                            f"vCPUs and {most.memory_free:g} GiB left); add hosts or racks, "
                            f"or choose a smaller instance type")
        # Least loaded first, so that instances spread over hosts; fabric order breaks ties.
        return min(fitting, key=_Load.rank)

    def group_racks(self, inst: Instance, az: str) -> tuple[set[str], str, str]:
        """Racks inst's placement group lets it use, a label for capacity errors, and why a pin misses them."""
        group = self.topology.vpcs[inst.vpc].placement_groups[inst.placement_group]
        used = self.members.get((inst.vpc, group.name), {})
        az_racks = self.az_racks.get(az, [])
        pin = self.topology.hosts[inst.pinned_host] if inst.pinned_host else None
        g = group.name
        if group.strategy == "cluster":
            if not used:  # the first member picks the rack for the whole group
                return set(az_racks), f"AZ {az}", ""
            rack = next(iter(used))
            rack_az = self.topology.racks[rack].az
            why = (f"host {pin.name} is not on rack {rack}, where cluster placement group {g} keeps its "
                   f"members; pin it to a host of {rack} or leave the group" if pin else
                   f"cluster placement group {g} keeps its members on rack {rack} in {rack_az}, but subnet "
                   f"{inst.subnet} is in {az}; use a subnet in {rack_az} or leave the group")
            return {rack}, f"cluster placement group {g}: rack {rack}", why
        if group.strategy == "spread":
            free = {r for r in az_racks if r not in used}
            why = (f"rack {pin.rack} of host {pin.name} already holds {used.get(pin.rack)}, a member of spread "
                   f"placement group {g}; pin it to a host on another rack" if pin else
                   f"spread placement group {g} already has a member on each of the {len(az_racks)} racks "
                   f"of {az}; add a rack to {az} or leave the group")
            return free, f"spread placement group {g}: AZ {az} beyond the racks of its members", why
        if len(az_racks) < group.partitions:
            self.fail(inst, f"partition placement group {g} has {group.partitions} partitions but {az} has only "
                            f"{len(az_racks)} racks; give each partition a rack of its own: add racks "
                            f"or lower partitions")
        # Racks go to partitions round-robin, so that no two partitions share a rack.
        racks = az_racks[inst.partition - 1::group.partitions]
        names = ", ".join(racks)
        why = (f"host {pin.name} is on rack {pin.rack}, outside partition {inst.partition} of placement "
               f"group {g} (racks {names}); pin it to a host on those racks" if pin else "")
        return set(racks), f"partition {inst.partition} of placement group {g} (racks {names})", why

    def fail(self, inst: Instance, message: str) -> NoReturn:
        raise TopologyError(self.topology.path, inst.line, inst.key, message)
