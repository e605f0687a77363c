"""YAML text -> validated, placed Topology.

The file is read as PyYAML's node tree (yaml_nodes), so that every error can name its line; each part
of the format has its module (fabric_format, vpc_format, firewall_format, peering_format). The rules
themselves are documented in docs/topology-format.md, its limits in limits.py.
"""
from __future__ import annotations

import dataclasses
import os
import re
import stat
from pathlib import Path
from types import MappingProxyType

from . import fabric_format, outside_format, peering_format
from .gateway_format import GatewayReader
from .ids import Ids
from .limits import MAX_FILE_BYTES, MAX_TOPOLOGY_NAME
from .model import ENCAPSULATIONS, MODES, Topology, TopologyError
from .placement import place
from .values import NAME, Names, name
from .vpc_format import VpcReader
from .yaml_nodes import Node, compose

TOP_KEYS = ("format", "name", "region", "mode", "encapsulation", "mtu", "fabric", "accounts", "vpcs",
            "peering", "outside", "edge", "hyperplane", "services", "dns")


def load(path: str | os.PathLike) -> Topology:
    """Read, validate and place the topology file at path."""
    path = str(path)
    return loads(read(path), path)


def read(path: str) -> str:
    """The text of a topology file: a regular file of at most MAX_FILE_BYTES, in UTF-8.

    Anything else (a FIFO, a device such as /dev/zero, a directory) is refused before it is opened for
    reading, and the file is opened without blocking, so that reading never hangs.
    """
    if not path:
        raise TopologyError("", None, None, "no topology file given (the path is empty); "
                                            "name a topology .yaml file")
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError
        _regular(path, info)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        try:
            _regular(path, os.fstat(fd))  # the same checks on what was opened, in case it was swapped
            with os.fdopen(fd, "rb") as file:
                fd = None
                data = file.read(MAX_FILE_BYTES + 1)
        finally:
            if fd is not None:
                os.close(fd)
        _regular(path, info, len(data))
        return data.decode("utf-8")
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


def _regular(path: str, info: os.stat_result, size: int | None = None) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise TopologyError(path, None, None, "is not a regular file (a pipe, a device or a socket); "
                                              "name a topology .yaml file")
    size = info.st_size if size is None else size
    if size > MAX_FILE_BYTES:
        raise _too_large(path)


def _too_large(path: str) -> TopologyError:
    return TopologyError(path, None, None, f"is larger than {MAX_FILE_BYTES // 2 ** 20} MiB, the limit for a "
                                           f"topology file; a topology needs far less (docs/topology-format.md)")


def loads(text: str, path: str = "<string>") -> Topology:
    """Validate and place a topology given as YAML text; path only names it in errors."""
    path = str(path)
    if len(text) > MAX_FILE_BYTES:  # characters: never more than the bytes of the file
        raise _too_large(path)
    root = compose(text, path)
    fmt = next((value for key, _, value in root.entries() if key == "format"), None)
    if fmt is not None and not fmt.is_null:  # checked before the keys, which a newer format may change
        version = fmt.integer()
        if version != 1:
            fmt.fail(f"{version} is not supported; this version of vpclab reads format 1")
    top = root.mapping(TOP_KEYS, {"fabric": "fabric: {azs: {use1-az1: {racks: {r1: {hosts: 2}}}}}"})
    topology_name = _topology_name(top["name"]) if "name" in top else default_name(path)
    region = name(top["region"], top["region"].text()) if "region" in top else "us-east-1"
    mode = top["mode"].choice(MODES, "a mode") if "mode" in top else "proactive"
    encapsulation = (top["encapsulation"].choice(ENCAPSULATIONS, "an encapsulation")
                     if "encapsulation" in top else "geneve")
    mtu = top["mtu"].integer(1280, 9001) if "mtu" in top else 9001
    ids = Ids(topology_name)
    spines, azs, racks, hosts, links = fabric_format.fabric(top["fabric"])
    accounts = _accounts(top.get("accounts"))
    names = Names()
    services = outside_format.services(top.get("services"), names)
    outside = outside_format.outside(top.get("outside"), names, services)
    gateways = GatewayReader(ids, names, outside, services, accounts)
    reader = VpcReader(path, ids, names, gateways)
    vpcs = reader.vpcs(top.get("vpcs"), azs, hosts, accounts)
    unplaced = Topology(path, topology_name, region, mode, encapsulation, mtu, spines, tuple(azs),
                        MappingProxyType(racks), MappingProxyType(hosts), accounts, MappingProxyType(vpcs),
                        peering_format.peerings(top.get("peering"), vpcs, ids), MappingProxyType(links),
                        outside, outside_format.edge(top.get("edge")), outside_format.hyperplane(top.get("hyperplane")),
                        services)
    unplaced = dataclasses.replace(unplaced, vpcs=MappingProxyType(
        peering_format.main_route_tables(unplaced, reader.peering_routes, ids)))
    unplaced = dataclasses.replace(unplaced, vpcs=MappingProxyType(gateways.finish(unplaced)))
    addresses = {i.name: i.ip for i in unplaced.instances()}
    unplaced = dataclasses.replace(unplaced, dns=outside_format.dns(top.get("dns"), unplaced.vpcs, addresses))
    peering_format.check_unambiguous(unplaced)
    return _with_hosts(unplaced, place(unplaced))


def _topology_name(node: Node) -> str:
    """The name becomes part of paths (the run state) and ids: kept to a safe pattern."""
    text = node.text()
    if not text.strip():
        node.fail("the name is empty; write a name like two-tenants, or leave name out")
    if not NAME.match(text) or len(text) > MAX_TOPOLOGY_NAME:
        shown = repr(text[:40] + "...") if len(text) > 40 else repr(text)
        node.fail(f"{shown} is not a valid topology name; use at most {MAX_TOPOLOGY_NAME} lower-case letters, "
                  f"digits and '-', starting with a letter or digit, like two-tenants")
    return text


def default_name(path: str) -> str:
    """The file name without its extension, made to fit the pattern of names (Two_Tenants -> two-tenants)."""
    stem = Path(path).stem
    if NAME.match(stem) and len(stem) <= MAX_TOPOLOGY_NAME:
        return stem
    safe = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:MAX_TOPOLOGY_NAME].strip("-")
    return safe or "topology"


def _accounts(node: Node | None) -> tuple[str, ...]:
    if node is None:
        return ("default",)
    items = node.sequence()
    if not items:
        node.fail("the list is empty; name at least one account, or leave accounts out for one default account")
    names: list[str] = []
    for item in items:
        account = name(item, item.text())
        if account in names:
            item.fail(f"account {account!r} is listed twice; list each account once")
        names.append(account)
    return tuple(names)


def _with_hosts(topology: Topology, placed: dict[str, str]) -> Topology:
    vpcs = {vpc_name: dataclasses.replace(vpc, instances=MappingProxyType(
                {n: dataclasses.replace(i, host=placed[n]) for n, i in vpc.instances.items()}))
            for vpc_name, vpc in topology.vpcs.items()}
    return dataclasses.replace(topology, vpcs=MappingProxyType(vpcs))
