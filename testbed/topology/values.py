"""Values every part of the format reads: names, CIDR blocks, and the "did you mean" hint of errors.

Each takes the node it reads (testbed.topology.yaml_nodes.Node), so that an error names its line and key.
"""
from __future__ import annotations

import difflib
import ipaddress
import re

NAME = re.compile(r"[a-z0-9][a-z0-9-]*\Z")


def name(node, text: str, max_length: int | None = None) -> str:
    """Names end up in Linux interface and host names, so they are kept to [a-z0-9-]."""
    if not NAME.match(text):
        node.fail(f"{text!r} is not a valid name; use lower-case letters, digits and '-', "
                  f"starting with a letter or digit, like web-1")
    if max_length and len(text) > max_length:
        node.fail(f"name {text!r} has {len(text)} characters; use at most {max_length}")
    return text


def hint(value: str, options: list, lead: str = "use one of") -> str:
    if not options:
        return "define it first (there are none yet)"
    close = difflib.get_close_matches(value, options, n=1)
    listed = ", ".join(options[:12]) + (f", ... ({len(options)} in all)" if len(options) > 12 else "")
    return (f"did you mean {close[0]!r}? " if close else "") + f"{lead}: {listed}"


def choices(node, options, noun: str, what: str) -> tuple[str, ...]:
    """A list of names from options, each once."""
    names: list[str] = []
    for item in node.sequence():
        value = item.choice(options, noun)
        if value in names:
            item.fail(f"{what} {value} is listed twice; list each {what} once")
        names.append(value)
    return tuple(names)


def cidr(node, what: str, prefixes: tuple[int, int], allows: str = "AWS allows") -> ipaddress.IPv4Network:
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
        node.fail(f"/{loose.prefixlen} is outside what {allows} for a {what}; "
                  f"use a prefix from /{low} to /{high}")
    return loose


def ipv4(node, example) -> ipaddress.IPv4Address:
    text = node.text()
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        node.fail(f"{text!r} is not an IPv4 address; write it like {example}")


def block(node, net: ipaddress.IPv4Network, what: str, reserved: dict, extra: tuple = ()) -> None:
    """Refuse a block that overlaps one of reserved ({CIDR: why}) or of extra ((network, why) pairs)."""
    for other, why in [*((ipaddress.IPv4Network(b), w) for b, w in reserved.items()), *extra]:
        if net.overlaps(other):
            node.fail(f"{net} overlaps {other}, {why}, which no {what} may use; pick a private block "
                      f"such as 10.0.0.0/16, 172.16.0.0/16 or 192.168.0.0/16")


class Pool:
    """The addresses of a block that things take: those written first, then the lowest free ones, in file
    order (instances in a subnet, outside hosts, elastic IPs). `roles` names the addresses outside
    first..last that the block keeps for itself."""

    def __init__(self, net: ipaddress.IPv4Network, first: int, last: int, owner: str, keeper: str, roles):
        self.net, self.owner, self.keeper, self.roles = net, owner, keeper, roles
        self.first = net.network_address + first
        self.last = net.broadcast_address - last
        self.taken: dict[ipaddress.IPv4Address, tuple[str, int]] = {}  # address -> (what took it, line)
        self.cursor = int(self.first)

    def take(self, node, who: str, key: str = "ip") -> ipaddress.IPv4Address:
        """The address written at node, for who; every rule of the block checked."""
        ip = ipv4(node, self.first)
        usable = f"pick one from {self.first} to {self.last}"
        if ip not in self.net:
            node.fail(f"{ip} is outside {self.owner} ({self.net}); {usable}")
        if not self.first <= ip <= self.last:
            node.fail(f"{ip} is reserved {self.keeper}: it is the {self.roles(ip)}; {usable}")
        if ip in self.taken:
            other, line = self.taken[ip]
            node.fail(f"{ip} is already the address of {other} (line {line}); pick another, "
                      f"or leave {key} out to get a free one")
        self.taken[ip] = (who, node.line)
        return ip

    def next(self, who: str, line: int) -> ipaddress.IPv4Address | None:
        """The lowest free address, taken for who; None if there is none left."""
        while self.cursor <= int(self.last):
            ip = ipaddress.IPv4Address(self.cursor)
            self.cursor += 1
            if ip not in self.taken:
                self.taken[ip] = (who, line)
                return ip
        return None


DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
AMAZON_DOMAINS = ("ec2.internal", "compute.internal")


def dns_name(node, text: str, min_labels: int = 2, max_length: int = 253, amazon_ok: bool = False) -> str:
    """A DNS name as written: lower-case labels of letters, digits and '-', no trailing dot; in Amazon
    DNS's own domains only when `amazon_ok` (a question, not a name the file defines)."""
    example = "www.example.com" if min_labels > 1 else "db"
    if text != text.lower():
        node.fail(f"{text!r} has upper-case letters; write DNS names in lower case, like {text.lower()!r}")
    if text.endswith(".") and len(text) > 1:
        node.fail(f"{text!r} ends in a dot; write it without the dot, like {text.rstrip('.')!r}")
    labels = text.split(".")
    bad = next((label for label in labels if not DNS_LABEL.match(label)), None)
    if bad is not None:
        node.fail(f"{text!r} is not a valid DNS name ({'an empty label' if not bad else repr(bad)}); use labels "
                  f"of 1 to 63 lower-case letters, digits and '-' (not at either end), joined by dots, like {example}")
    if len(labels) < min_labels:
        node.fail(f"{text!r} has one label; write a full name with a domain, like {text}.example.com")
    if min_labels > 1 and labels[-1].isdigit():     # RFC 3696: a top-level domain is never all digits
        node.fail(f"{text!r} ends in an all-digit label, so resolvers read it as an address, never asking DNS; "
                  f"end it in a domain like example.com")
    if len(text) > max_length:
        node.fail(f"{text[:40]!r}... has {len(text)} characters; a DNS name has at most {max_length}")
    amazon = next((d for d in AMAZON_DOMAINS if text == d or text.endswith("." + d)), None)
    if amazon and not amazon_ok:
        node.fail(f"{text!r} is in {amazon}, Amazon DNS's own domain (names like ip-10-0-1-10.ec2.internal); "
                  f"pick another domain, like corp.internal")
    return text


class Names:
    """The names of the file that checks and lab.node() use: instances, outside hosts, elastic IPs,
    load balancers, endpoints, and the nodes the lab makes itself (s3, site routers). Unique in the file."""

    def __init__(self):
        self.owners: dict[str, tuple[str, int | None]] = {}  # name -> (what it names, line; None: the lab's)

    def claim(self, node, text: str, kind: str) -> str:
        if text in self.owners:
            other, line = self.owners[text]
            if line is None:
                node.fail(f"{text!r} is the name of {other}, which the lab makes; rename this one")
            if other == kind == "instance":
                node.fail(f"instance name {text!r} is already used on line {line}; instance names are unique in "
                          f"the whole file, so rename one")
            node.fail(f"{text!r} is already the name of {other} on line {line}; instances, outside hosts, "
                      f"elastic IPs, load balancers and endpoints share one set of names (checks and lab.node "
                      f"use them), so rename one")
        self.owners[text] = (kind, node.line)
        return text

    def reserve(self, node, text: str, what: str) -> None:
        """A name the lab gives one of its own nodes; node is what makes the lab give it (None: always)."""
        if text in self.owners:
            other, line = self.owners[text]
            node.fail(f"{text!r}, the name of {what}, is already the name of {other} on line {line}; "
                      f"rename one")
        self.owners[text] = (what, None)
