"""YAML text -> validated, placed Topology.

The loader walks the node tree of yaml.compose instead of plain Python objects: nodes keep their
line, so that every error can name it, and a mapping with a key written twice (which a plain load
silently collapses) can be caught. The rules themselves are documented in docs/topology-format.md.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import ipaddress
import os
import re
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import NoReturn

import yaml
from yaml.constructor import SafeConstructor

from . import firewall_format
from .instance_types import INSTANCE_TYPES
from .model import (
    DEFAULT_GROUP,
    ENCAPSULATIONS,
    LINK_KINDS,
    MODES,
    STRATEGIES,
    TENANCIES,
    VPC,
    Instance,
    LinkCondition,
    Peering,
    PhysicalHost,
    PlacementGroup,
    Rack,
    Subnet,
    Topology,
    TopologyError,
)
from .placement import place

NAME = re.compile(r"[a-z0-9][a-z0-9-]*\Z")
MAX_HOST_NAME = 12        # a bridge is a 3-character lab prefix + host name, within Linux's 15
MAX_INSTANCE_NAME = 32
UNDERLAY_BASE = ipaddress.IPv4Address("100.127.0.0")
MAX_HOSTS = 65534         # keeps underlay IPs inside 100.127.0.0/16
MAX_VNI = 2 ** 24 - 1
VPC_PREFIXES = SUBNET_PREFIXES = (16, 28)  # what AWS allows
MAX_PARTITIONS = 7        # AWS: at most 7 partitions per AZ

TOP_KEYS = ("format", "name", "region", "mode", "encapsulation", "mtu", "fabric", "accounts", "vpcs",
            "peering")
VPC_KEYS = ("account", "cidr", "vni", "subnets", "placement_groups", "instances", "security_groups",
            "network_acls", "route_tables", "flow_logs")
INSTANCE_KEYS = ("subnet", "ip", "type", "tenancy", "placement_group", "partition", "host", "security_groups")

_TAG = "tag:yaml.org,2002:"
_INTS = SafeConstructor()  # YAML 1.1 integers (0x1f, 1_000, ...) read exactly as yaml.safe_load would


def load(path: str | os.PathLike) -> Topology:
    """Read, validate and place the topology file at path."""
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TopologyError(path, None, None, "no such file; check the path") from None
    except IsADirectoryError:
        raise TopologyError(path, None, None, "is a directory; name a topology .yaml file") from None
    except UnicodeDecodeError as e:
        raise TopologyError(path, None, None, f"is not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    except (OSError, ValueError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise TopologyError(path, None, None,
                            f"cannot be read ({reason}); check the path and its permissions") from None
    return loads(text, path)


def loads(text: str, path: str = "<string>") -> Topology:
    """Validate and place a topology given as YAML text; path only names it in errors."""
    path = str(path)
    root = _compose(text, path)
    fmt = next((value for key, _, value in root.entries() if key == "format"), None)
    if fmt is not None and not fmt.is_null:  # checked before the keys, which a newer format may change
        version = fmt.integer()
        if version != 1:
            fmt.fail(f"{version} is not supported; this version of vpclab reads format 1")
    top = root.mapping(TOP_KEYS, {"fabric": "fabric: {azs: {use1-az1: {racks: {r1: {hosts: 2}}}}}"})
    name = top["name"].text() if "name" in top else Path(path).stem
    if not name.strip():
        top["name"].fail("the name is empty; write a name like two-tenants, or leave name out")
    region = _name(top["region"], top["region"].text()) if "region" in top else "us-east-1"
    mode = top["mode"].choice(MODES, "a mode") if "mode" in top else "proactive"
    encapsulation = (top["encapsulation"].choice(ENCAPSULATIONS, "an encapsulation")
                     if "encapsulation" in top else "geneve")
    mtu = top["mtu"].integer(1280, 9001) if "mtu" in top else 9001
    build = _Build(path, name)
    spines, azs, racks, hosts, links = build.fabric(top["fabric"])
    accounts = _accounts(top.get("accounts"))
    vpcs = build.vpcs(top.get("vpcs"), azs, hosts, accounts)
    unplaced = Topology(path, name, region, mode, encapsulation, mtu, spines, tuple(azs),
                        MappingProxyType(racks), MappingProxyType(hosts), accounts, MappingProxyType(vpcs),
                        build.peerings(top.get("peering"), vpcs), MappingProxyType(links))
    unplaced = dataclasses.replace(unplaced, vpcs=MappingProxyType(build.main_route_tables(unplaced)))
    return _with_hosts(unplaced, place(unplaced))


# --- reading YAML nodes -------------------------------------------------------------------------

def _compose(text: str, path: str) -> _Node:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = " ".join(", ".join(str(p) for p in (e.context, e.problem) if p).split())
        if e.context_mark and mark and e.context_mark.line != mark.line:
            problem += f" (what is unfinished began on line {e.context_mark.line + 1})"
        raise TopologyError(path, mark.line + 1 if mark else None, None,
                            f"YAML syntax error: {problem}; check the indentation, colons and quotes "
                            f"on this line and the one before") from None
    except yaml.reader.ReaderError as e:  # characters YAML does not allow, such as control bytes
        line = text.count("\n", 0, e.position) + 1
        raise TopologyError(path, line, None, f"character U+{e.character:04X} is not allowed in YAML; "
                                              f"remove it") from None
    except RecursionError:
        raise TopologyError(path, None, None, "the YAML is nested too deeply to read; "
                                              "a topology needs only a few levels") from None
    if node is None:
        raise TopologyError(path, None, None, "the topology is empty; it needs at least a fabric: "
                                              "(see docs/topology-format.md)")
    root = _Node(node, "", path)
    if not isinstance(node, yaml.MappingNode):
        root.fail(f"the top level is {root.describe()}, not a mapping; start the file with keys like "
                  f"format: 1, fabric: and vpcs:")
    return root


class _Node:
    """A YAML node and its key path: everything an error about it needs."""

    def __init__(self, node: yaml.Node, path: str, file: str, line: int | None = None):
        self.node, self.path, self.file = node, path, file
        self.line = line or node.start_mark.line + 1

    @property
    def is_null(self) -> bool:
        return isinstance(self.node, yaml.ScalarNode) and self.node.tag == _TAG + "null"

    def at(self, path: str) -> _Node:
        """The same node under another key path."""
        return _Node(self.node, path, self.file, self.line)

    def fail(self, message: str) -> NoReturn:
        raise TopologyError(self.file, self.line, self.path or None, message)

    def child(self, node: yaml.Node, key: str | int, line: int | None = None) -> _Node:
        if isinstance(key, int):
            return _Node(node, f"{self.path}[{key}]", self.file, line)
        return _Node(node, f"{self.path}.{key}" if self.path else key, self.file, line)

    def describe(self) -> str:
        if isinstance(self.node, yaml.MappingNode):
            return "a mapping"
        if isinstance(self.node, yaml.SequenceNode):
            return "a list"
        return "nothing" if self.is_null else repr(self.node.value)

    def text(self) -> str:
        """A scalar as written: names and addresses keep the user's spelling (no 1.5 or yes surprises)."""
        if not isinstance(self.node, yaml.ScalarNode):
            self.fail(f"expected a single value, got {self.describe()}; write it like key: value")
        return self.node.value

    def integer(self, low: int | None = None, high: int | None = None) -> int:
        value = None
        if isinstance(self.node, yaml.ScalarNode) and self.node.tag == _TAG + "int":
            try:
                value = _INTS.construct_yaml_int(self.node)
            except (ValueError, IndexError):  # an explicit !!int tag on something that is no number
                pass
        if value is None:
            self.fail(f"expected a whole number, got {self.describe()}; write digits without quotes, "
                      f"like {low if low is not None else 1}")
        if (low is not None and value < low) or (high is not None and value > high):
            wanted = f"from {low} to {high}" if high is not None else f"of at least {low}"
            self.fail(f"{value} is out of range; use a whole number {wanted}")
        return value

    def number(self, low: float, high: float) -> float:
        """A whole or decimal number from low to high (delays, loss percentages)."""
        value = None
        if isinstance(self.node, yaml.ScalarNode) and self.node.tag in (_TAG + "int", _TAG + "float"):
            try:
                value = float(self.node.value.replace("_", ""))
            except ValueError:
                pass
        if value is None or value != value:  # not a number, or .nan
            self.fail(f"expected a number, got {self.describe()}; write digits without quotes, like {low}")
        if not low <= value <= high:
            self.fail(f"{value:g} is out of range; use a number from {low} to {high}")
        return value

    def choice(self, options, noun: str) -> str:
        value = self.text()
        if value not in options:
            self.fail(f"{value!r} is not {noun}; {_hint(value, list(options))}")
        return value

    def entries(self) -> Iterator[tuple[str, _Node, _Node]]:
        """(key, node of the key, node of the value) of a mapping in file order; keys plain and unique."""
        if not isinstance(self.node, yaml.MappingNode):
            self.fail(f"expected a mapping, got {self.describe()}; write key: value lines under it")
        seen: dict[str, int] = {}
        for key_node, value_node in self.node.value:
            where = _Node(key_node, self.path, self.file)
            if key_node.tag == _TAG + "merge":
                where.fail("YAML merge keys (<<) are not supported; write the keys out")
            key = where.text()
            if key in seen:
                where.fail(f"key {key!r} appears twice (first on line {seen[key]}); YAML would keep only "
                           f"one of them, so remove or rename one")
            seen[key] = where.line
            # A value is reported on its key's line: a block mapping below a key starts a line later.
            yield key, where, self.child(value_node, key, where.line)

    def mapping(self, allowed: tuple, required: dict[str, str] | None = None) -> dict[str, _Node]:
        """The values of a mapping with fixed keys; a key with an empty value counts as left out."""
        values = {}
        for key, where, value in self.entries():
            if key not in allowed:
                where.fail(f"unknown key {key!r}; {_hint(key, list(allowed), 'allowed keys are')}")
            if not value.is_null:
                values[key] = value
        for key, example in (required or {}).items():
            if key not in values:
                self.fail(f"{key!r} is missing; add it, for example {example}")
        return values

    def named(self, max_length: int | None = None) -> Iterator[tuple[str, _Node, _Node]]:
        """Entries of a mapping keyed by the names of things (racks, VPCs, ...), each name checked."""
        for key, where, value in self.entries():
            _name(where, key, max_length)
            yield key, where.at(value.path), value

    def sequence(self) -> list[_Node]:
        if not isinstance(self.node, yaml.SequenceNode):
            self.fail(f"expected a list, got {self.describe()}; write it like [a, b]")
        return [self.child(node, index) for index, node in enumerate(self.node.value)]


def _name(node: _Node, name: str, max_length: int | None = None) -> str:
    """Names end up in Linux interface and host names, so they are kept to [a-z0-9-]."""
    if not NAME.match(name):
        node.fail(f"{name!r} is not a valid name; use lower-case letters, digits and '-', "
                  f"starting with a letter or digit, like web-1")
    if max_length and len(name) > max_length:
        node.fail(f"name {name!r} has {len(name)} characters; use at most {max_length}")
    return name


def _hint(value: str, options: list, lead: str = "use one of") -> str:
    if not options:
        return "define it first (there are none yet)"
    close = difflib.get_close_matches(value, options, n=1)
    listed = ", ".join(options[:12]) + (f", ... ({len(options)} in all)" if len(options) > 12 else "")
    return (f"did you mean {close[0]!r}? " if close else "") + f"{lead}: {listed}"


def _cidr(node: _Node, what: str, prefixes: tuple[int, int]) -> ipaddress.IPv4Network:
    text = node.text()
    try:
        if "/" not in text:  # ipaddress would take a bare address as a /32
            raise ValueError(text)
        loose = ipaddress.IPv4Network(text, strict=False)
    except ValueError:
        node.fail(f"{text!r} is not a CIDR block; write it like 10.0.1.0/24")
    try:
        ipaddress.IPv4Network(text)
    except ValueError:  # it parses loosely, so only host bits can be wrong
        node.fail(f"{text}: host bits set; did you mean {loose}")
    low, high = prefixes
    if not low <= loose.prefixlen <= high:
        node.fail(f"/{loose.prefixlen} is outside what AWS allows for a {what}; "
                  f"use a prefix from /{low} to /{high}")
    return loose


def _accounts(node: _Node | None) -> tuple[str, ...]:
    if node is None:
        return ("default",)
    items = node.sequence()
    if not items:
        node.fail("the list is empty; name at least one account, or leave accounts out for one default account")
    names: list[str] = []
    for item in items:
        name = _name(item, item.text())
        if name in names:
            item.fail(f"account {name!r} is listed twice; list each account once")
        names.append(name)
    return tuple(names)


def _with_hosts(topology: Topology, placed: dict[str, str]) -> Topology:
    vpcs = {name: dataclasses.replace(vpc, instances=MappingProxyType(
                {n: dataclasses.replace(i, host=placed[n]) for n, i in vpc.instances.items()}))
            for name, vpc in topology.vpcs.items()}
    return dataclasses.replace(topology, vpcs=MappingProxyType(vpcs))


# --- building the model -------------------------------------------------------------------------

class _Build:
    """State shared while one file is read: ids and MACs derive from the topology name."""

    def __init__(self, path: str, name: str):
        self.path, self.name = path, name
        self.instance_lines: dict[str, int] = {}  # instance names are unique in the whole file
        self.macs: set[int] = set()
        self.peering_routes: list = []  # (vpc, peering name, node): checked once the peerings are read

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

    def fabric(self, node: _Node):
        fabric = node.mapping(("spines", "links", "azs"),
                              {"azs": "azs: {use1-az1: {racks: {r1: {hosts: 2}}}}"})
        spines = fabric["spines"].integer(1) if "spines" in fabric else 1
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

    def vpcs(self, node: _Node | None, azs: list[str], hosts: dict, accounts: tuple) -> dict[str, VPC]:
        vpcs: dict[str, VPC] = {}
        vnis: dict[int, tuple[str, _Node | None]] = {}  # vni -> (vpc, its vni: node if written)
        for index, (name, _, body) in enumerate(node.named() if node else ()):
            spec = body.mapping(VPC_KEYS, {"cidr": "cidr: 10.0.0.0/16"})
            account = (spec["account"].choice(accounts, "an account of this file") if "account" in spec
                       else accounts[0])
            cidr = _cidr(spec["cidr"], "VPC", VPC_PREFIXES)
            vni_node = spec.get("vni")
            vni = vni_node.integer(1, MAX_VNI) if vni_node else 100 + index
            if vni in vnis:
                other, other_node = vnis[vni]
                if vni_node:
                    vni_node.fail(f"VNI {vni} is already the VNI of vpc {other}; VNIs are unique, pick another")
                other_node.fail(f"VNI {vni} is also the automatic VNI of vpc {name} (100 + its position); "
                                f"pick another, or give {name} a vni too")
            vnis[vni] = (name, vni_node)
            subnets = self._subnets(spec.get("subnets"), name, cidr, azs)
            groups = _groups(spec.get("placement_groups"))
            security = firewall_format.security_groups(spec.get("security_groups"), name, self.id)
            instances = self._instances(spec.get("instances"), name, account, subnets, groups, hosts, security)
            acls = firewall_format.network_acls(spec.get("network_acls"), subnets, self.id, name)
            tables, refs = firewall_format.route_tables(spec.get("route_tables"), subnets, str(cidr), self.id, name)
            self.peering_routes += [(name, *ref) for ref in refs]
            interval = firewall_format.flow_logs(spec["flow_logs"]) if "flow_logs" in spec else None
            vpcs[name] = VPC(name, self.id("vpc", name), vni, account, str(cidr), MappingProxyType(subnets),
                             MappingProxyType(instances), MappingProxyType(groups), MappingProxyType(security),
                             MappingProxyType(acls), MappingProxyType(tables), interval)
        return vpcs

    def main_route_tables(self, topo: Topology) -> dict[str, VPC]:
        """Check the pcx: routes against the peerings, then give every VPC its main route table."""
        ends = {p.name: p.vpcs for p in topo.peerings}
        for vpc, peering, node in self.peering_routes:
            if peering not in ends:
                node.fail(f"pcx:{peering} is not a peering of this file; {_hint(peering, list(ends))}")
            if vpc not in ends[peering]:
                node.fail(f"peering {peering} joins {' and '.join(ends[peering])}, not vpc {vpc}; "
                          f"route to a peering of {vpc}")
        vpcs = {}
        for name, vpc in topo.vpcs.items():
            peers = {p: topo.vpcs[a if b == name else b].cidr for p, (a, b) in ends.items() if name in (a, b)}
            main = firewall_format.main_route_table(vpc, peers, self.id)
            vpcs[name] = dataclasses.replace(vpc, route_tables=MappingProxyType(
                {**vpc.route_tables, main.name: main}))
        return vpcs

    def _subnets(self, node: _Node | None, vpc: str, vpc_net: ipaddress.IPv4Network,
                 azs: list[str]) -> dict[str, Subnet]:
        subnets: dict[str, Subnet] = {}
        lines: dict[str, int] = {}
        for name, _, body in node.named() if node else ():
            spec = body.mapping(("cidr", "az"), {"cidr": "cidr: 10.0.1.0/24", "az": f"az: {azs[0]}"})
            net = _cidr(spec["cidr"], "subnet", SUBNET_PREFIXES)
            if not net.subnet_of(vpc_net):
                spec["cidr"].fail(f"{net} is outside vpc {vpc} ({vpc_net}); pick a block inside {vpc_net}")
            for other in subnets.values():
                if net.overlaps(other.network):
                    spec["cidr"].fail(f"{net} overlaps subnet {other.name} ({other.cidr}, line "
                                      f"{lines[other.name]}); pick a block that does not overlap it")
            az = spec["az"].choice(azs, "an AZ of the fabric")
            # Subnet names are scoped by their VPC, so the VPC is part of what the id hashes.
            subnets[name] = Subnet(name, self.id("subnet", f"{vpc}/{name}"), vpc, str(net), az)
            lines[name] = spec["cidr"].line
        return subnets

    def _instances(self, node: _Node | None, vpc: str, account: str, subnets: dict[str, Subnet],
                   groups: dict[str, PlacementGroup], hosts: dict, security: dict) -> dict[str, Instance]:
        taken: dict[ipaddress.IPv4Address, tuple[str, int]] = {}  # ip -> (instance, line), per VPC
        rotation: dict[str, int] = {}  # partition group -> members given a partition so far
        instances: dict[str, Instance] = {}
        for name, key, body in node.named(MAX_INSTANCE_NAME) if node else ():
            if name in self.instance_lines:
                key.fail(f"instance name {name!r} is already used on line {self.instance_lines[name]}; "
                         f"instance names are unique in the whole file, so rename one")
            self.instance_lines[name] = key.line
            spec = body.mapping(INSTANCE_KEYS, {"subnet": f"subnet: {next(iter(subnets), 'my-subnet')}"})
            subnet = subnets[spec["subnet"].choice(subnets, f"a subnet of vpc {vpc}")]
            ip = _explicit_ip(spec["ip"], subnet, taken) if "ip" in spec else None
            if ip is not None:
                taken[ip] = (name, spec["ip"].line)
            group = (groups[spec["placement_group"].choice(groups, f"a placement group of vpc {vpc}")]
                     if "placement_group" in spec else None)
            instances[name] = Instance(
                name=name, id=self.id("i", name), eni=self.id("eni", name), vpc=vpc, subnet=subnet.name,
                ip="" if ip is None else str(ip), mac=self.mac(name),
                type=spec["type"].choice(INSTANCE_TYPES, "a known instance type") if "type" in spec
                else "t3.micro",
                tenancy=spec["tenancy"].choice(TENANCIES, "a tenancy") if "tenancy" in spec else "default",
                placement_group=group.name if group else None,
                partition=_partition(spec.get("partition"), group, rotation),
                pinned_host=_pin(spec["host"], subnet, hosts) if "host" in spec else None,
                host="", account=account, line=key.line,
                security_groups=(firewall_format.instance_groups(spec["security_groups"], security, vpc)
                                 if "security_groups" in spec else (DEFAULT_GROUP,)))
        # Addresses left out come after all written ones are taken: the lowest free one, in file order.
        pools = {name: _usable(subnet.network) for name, subnet in subnets.items()}
        for name, inst in list(instances.items()):
            if not inst.ip:
                ip = next((ip for ip in pools[inst.subnet] if ip not in taken), None)
                if ip is None:
                    raise TopologyError(self.path, inst.line, inst.key,
                                        f"subnet {inst.subnet} ({subnets[inst.subnet].cidr}) has no free address "
                                        f"left for {name}; use a larger subnet or another one")
                taken[ip] = (name, inst.line)
                instances[name] = dataclasses.replace(inst, ip=str(ip))
        return instances

    def peerings(self, node: _Node | None, vpcs: dict[str, VPC]) -> tuple[Peering, ...]:
        peerings: list[Peering] = []
        pairs: dict[frozenset, int] = {}
        names: dict[str, int] = {}
        for item in node.sequence() if node else ():
            spec = item.mapping(("name", "vpcs"), {"vpcs": "vpcs: [blue, green]"})
            ends = spec["vpcs"].sequence()
            if len(ends) != 2:
                spec["vpcs"].fail(f"a peering joins exactly two VPCs, not {len(ends)}; "
                                  f"write it like vpcs: [blue, green]")
            a, b = (end.choice(vpcs, "a VPC of this file") for end in ends)
            if a == b:
                ends[1].fail(f"vpc {a} cannot be peered with itself; name two different VPCs")
            pair = frozenset((a, b))
            if pair in pairs:
                spec["vpcs"].fail(f"vpcs {a} and {b} are already peered on line {pairs[pair]}; peer them once")
            net_a, net_b = ipaddress.IPv4Network(vpcs[a].cidr), ipaddress.IPv4Network(vpcs[b].cidr)
            if net_a.overlaps(net_b):
                spec["vpcs"].fail(f"the CIDRs of {a} ({net_a}) and {b} ({net_b}) overlap, and AWS peers only "
                                  f"VPCs whose CIDR blocks do not; change one CIDR or drop this peering")
            name_node = spec.get("name", spec["vpcs"])
            name = _name(name_node, name_node.text()) if "name" in spec else f"{a}-{b}"
            if name in names:
                name_node.fail(f"peering name {name!r} is already used on line {names[name]}; rename one")
            pairs[pair] = names[name] = spec["vpcs"].line
            peerings.append(Peering(name, self.id("pcx", name), (a, b)))
        return tuple(peerings)


def _groups(node: _Node | None) -> dict[str, PlacementGroup]:
    groups = {}
    for name, _, body in node.named() if node else ():
        spec = body.mapping(("strategy", "partitions"), {"strategy": "strategy: spread"})
        strategy = spec["strategy"].choice(STRATEGIES, "a placement strategy")
        if "partitions" in spec and strategy != "partition":
            spec["partitions"].fail("partitions applies only to strategy: partition; remove it")
        partitions = spec["partitions"].integer(1, MAX_PARTITIONS) if "partitions" in spec else 2
        groups[name] = PlacementGroup(name, strategy, partitions)
    return groups


def _links(node: _Node | None) -> dict[str, LinkCondition]:
    """Optional delay and loss per kind of underlay cable (nic, uplink)."""
    links = {}
    for kind, body in (node.mapping(LINK_KINDS) if node else {}).items():
        spec = body.mapping(("delay_ms", "loss_percent"), {"delay_ms": "delay_ms: 1"})
        loss = spec["loss_percent"].number(0, 100) if "loss_percent" in spec else 0.0
        links[kind] = LinkCondition(spec["delay_ms"].number(0, 10000), loss)
    return links


def _rack(rack: str, az: str, key: _Node, node: _Node, hosts: dict) -> Rack:
    """Read one rack and add its hosts to hosts, numbering them on from the hosts already there."""
    spec = node.mapping(("hosts", "vcpus", "memory_gib"), {"hosts": "hosts: 2"})
    count = spec["hosts"].integer(1)
    if len(hosts) + count > MAX_HOSTS:
        spec["hosts"].fail(f"the fabric would have more than {MAX_HOSTS} physical hosts, the size of its "
                           f"underlay 100.127.0.0/16; use fewer hosts")
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


def _usable(net: ipaddress.IPv4Network) -> Iterator[ipaddress.IPv4Address]:
    """Addresses an instance may get: AWS keeps the first four and the last of every subnet."""
    return (ipaddress.IPv4Address(n) for n in range(int(net.network_address) + 4, int(net.broadcast_address)))


def _explicit_ip(node: _Node, subnet: Subnet, taken: dict) -> ipaddress.IPv4Address:
    text = node.text()
    net = subnet.network
    usable = f"pick one from {net.network_address + 4} to {net.broadcast_address - 1}"
    try:
        ip = ipaddress.IPv4Address(text)
    except ValueError:
        node.fail(f"{text!r} is not an IPv4 address; write it like {net.network_address + 4}")
    if ip not in net:
        node.fail(f"{ip} is outside subnet {subnet.name} ({net}); {usable}")
    if ip in subnet.reserved:
        node.fail(f"{ip} is reserved by AWS in subnet {subnet.name}: it is the {subnet.reserved[ip]}; {usable}")
    if ip in taken:
        other, line = taken[ip]
        node.fail(f"{ip} is already the address of {other} (line {line}); pick another, "
                  f"or leave ip out to get a free one")
    return ip


def _partition(node: _Node | None, group: PlacementGroup | None, rotation: dict[str, int]) -> int | None:
    if group is None or group.strategy != "partition":
        if node:
            node.fail("partition applies only to members of a partition placement group; remove it, or set "
                      "placement_group to a group with strategy: partition")
        return None
    if node:
        return node.integer(1, group.partitions)
    # Members without a partition take the partitions in turn, in file order.
    turn = rotation.get(group.name, 0)
    rotation[group.name] = turn + 1
    return turn % group.partitions + 1


def _pin(node: _Node, subnet: Subnet, hosts: dict[str, PhysicalHost]) -> str:
    host = hosts[node.choice(hosts, "a physical host of the fabric")]
    if host.az != subnet.az:
        node.fail(f"host {host.name} is in {host.az}, but subnet {subnet.name} is in {subnet.az}; "
                  f"pin it to a host in {subnet.az} or use a subnet in {host.az}")
    return host.name
