"""The `fabric` key: spines, AZs, racks and their physical hosts, and the underlay's cable conditions."""
from __future__ import annotations

from .limits import MAX_HOST_NAME, MAX_HOSTS, MAX_SPINES, UNDERLAY_BASE
from .model import LINK_KINDS, LinkCondition, PhysicalHost, Rack
from .yaml_nodes import Node


def fabric(node: Node):
    """(spines, AZ names, racks, physical hosts, link conditions) of the fabric, in file order."""
    fabric = node.mapping(("spines", "links", "azs"),
                          {"azs": "azs: {use1-az1: {racks: {r1: {hosts: 2}}}}"})
    spines = fabric["spines"].integer(1, MAX_SPINES) if "spines" in fabric else 1
    azs: list[str] = []
    racks: dict[str, Rack] = {}
    hosts: dict[str, PhysicalHost] = {}
    for az, _, body in fabric["azs"].named():
        azs.append(az)
        az_racks = body.mapping(("racks",), {"racks": "racks: {r1: {hosts: 2}}"})["racks"]
        for rack, rack_key, spec in az_racks.named():
            if rack in racks:
                rack_key.fail(f"rack {rack!r} is already in {racks[rack].az}; rack names are unique "
                              f"across the fabric, so rename one")
            racks[rack] = _rack(rack, az, rack_key, spec, hosts)
        if not any(r.az == az for r in racks.values()):
            az_racks.fail("there are no racks; add one like r1: {hosts: 2}")
    if not azs:
        fabric["azs"].fail("there are no AZs; add one like use1-az1: {racks: {r1: {hosts: 2}}}")
    return spines, azs, racks, hosts, _links(fabric.get("links"))


def _links(node: Node | None) -> dict[str, LinkCondition]:
    """Optional delay and loss per kind of underlay cable (nic, uplink)."""
    links = {}
    for kind, body in (node.mapping(LINK_KINDS) if node else {}).items():
        spec = body.mapping(("delay_ms", "loss_percent"), {"delay_ms": "delay_ms: 1"})
        loss = spec["loss_percent"].number(0, 100) if "loss_percent" in spec else 0.0
        links[kind] = LinkCondition(spec["delay_ms"].number(0, 10000), loss)
    return links


def _rack(rack: str, az: str, key: Node, node: Node, hosts: dict) -> Rack:
    """Read one rack and add its hosts to hosts, numbering them on from the hosts already there."""
    spec = node.mapping(("hosts", "vcpus", "memory_gib"), {"hosts": "hosts: 2"})
    count = spec["hosts"].integer(1)
    if len(hosts) + count > MAX_HOSTS:
        spec["hosts"].fail(f"the fabric would have more than {MAX_HOSTS} physical hosts: host n takes port n "
                           f"of its rack's switch, whose ports from {MAX_HOSTS + 1} up go to the spines; "
                           f"use fewer hosts")
    longest = f"{rack}-h{count}"
    if len(longest) > MAX_HOST_NAME:
        key.fail(f"host names would reach {longest!r} ({len(longest)} characters), but each becomes part "
                 f"of a bridge name and must have at most {MAX_HOST_NAME}; use a shorter rack name")
    vcpus = spec["vcpus"].integer(1) if "vcpus" in spec else 32
    memory = spec["memory_gib"].integer(1) if "memory_gib" in spec else 128
    names = []
    for n in range(1, count + 1):
        index = len(hosts) + 1
        host = PhysicalHost(f"{rack}-h{n}", index, az, rack, vcpus, memory, str(UNDERLAY_BASE + index))
        hosts[host.name] = host
        names.append(host.name)
    return Rack(rack, az, tuple(names))
