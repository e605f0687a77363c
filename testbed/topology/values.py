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


def cidr(node, what: str, prefixes: tuple[int, int]) -> ipaddress.IPv4Network:
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
