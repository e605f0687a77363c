"""Reading YAML as PyYAML's node tree, with the key path of every node: what each error needs.

yaml.compose keeps every node's line (its start mark), and a mapping keeps a key written twice, which
a plain load silently collapses. `Node` adds the key path and the typed reads of the format.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NoReturn

import yaml

from .limits import MAX_INTEGER_DIGITS
from .model import TopologyError
from .values import hint, name

TAG = "tag:yaml.org,2002:"
# Whole numbers are plain decimal digits: YAML 1.1 would also read 2:30:00 (base 60), 0x1f, 0o17,
# 017 (octal) and 1_000, which nobody means in a topology.
DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\Z")
_RESOLVER = yaml.resolver.Resolver()  # PyYAML's own: what it would read as an integer


TOPOLOGY_START = ("the topology is empty; it needs at least a fabric: (see docs/topology-format.md)",
                  "keys like format: 1, fabric: and vpcs:")


def compose(text: str, path: str, start: tuple[str, str] = TOPOLOGY_START) -> Node:
    """The top-level mapping of a topology's YAML text (or another file's: `start` says what an empty
    file lacks and what the file starts with); TopologyError if it is none."""
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
        raise TopologyError(path, None, None, start[0])
    root = Node(node, "", path)
    if not isinstance(node, yaml.MappingNode):
        root.fail(f"the top level is {root.describe()}, not a mapping; start the file with {start[1]}")
    return root


class Node:
    """A YAML node and its key path: everything an error about it needs."""

    def __init__(self, node: yaml.Node, path: str, file: str, line: int | None = None):
        self.node, self.path, self.file = node, path, file
        self.line = line or node.start_mark.line + 1

    @property
    def is_null(self) -> bool:
        return isinstance(self.node, yaml.ScalarNode) and self.node.tag == TAG + "null"

    def at(self, path: str) -> Node:
        """The same node under another key path."""
        return Node(self.node, path, self.file, self.line)

    def fail(self, message: str) -> NoReturn:
        raise TopologyError(self.file, self.line, self.path or None, message)

    def child(self, node: yaml.Node, key: str | int, line: int | None = None) -> Node:
        if isinstance(key, int):
            return Node(node, f"{self.path}[{key}]", self.file, line)
        return Node(node, f"{self.path}.{key}" if self.path else key, self.file, line)

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
        example = low if low is not None else 1
        if not (isinstance(self.node, yaml.ScalarNode) and self.node.tag == TAG + "int"):
            self.fail(f"expected a whole number, got {self.describe()}; write digits without quotes, "
                      f"like {example}")
        written = self.node.value
        if not DECIMAL.match(written):
            if _RESOLVER.resolve(yaml.ScalarNode, written, (True, False)) != TAG + "int":
                self.fail(f"expected a whole number, got {self.describe()}; write digits without quotes, "
                          f"like {example}")  # an explicit !!int tag on something that is no number
            self.fail(f"{written!r} is not a plain decimal number (YAML would read it as another base or a "
                      f"time); write it with the digits 0-9 only and no leading zero, like {example}")
        wanted = f"from {low} to {high}" if high is not None else f"of at least {low}"
        if len(written.lstrip("+-")) > MAX_INTEGER_DIGITS:
            self.fail(f"{written[:12]}... ({len(written)} digits) is out of range; use a whole number {wanted}")
        value = int(written)
        if (low is not None and value < low) or (high is not None and value > high):
            self.fail(f"{value} is out of range; use a whole number {wanted}")
        return value

    def boolean(self) -> bool:
        """true or false, as written: YAML 1.1's yes, no, on and off are refused."""
        if isinstance(self.node, yaml.ScalarNode) and self.node.tag == TAG + "bool":
            if self.node.value in ("true", "false"):
                return self.node.value == "true"
            self.fail(f"{self.node.value!r} is not plain true or false (YAML would read it as a boolean); "
                      f"write true or false")
        self.fail(f"expected true or false, got {self.describe()}; write true or false without quotes")

    def number(self, low: float, high: float) -> float:
        """A whole or decimal number from low to high (delays, loss percentages)."""
        value = None
        if isinstance(self.node, yaml.ScalarNode) and self.node.tag in (TAG + "int", TAG + "float"):
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
            self.fail(f"{value!r} is not {noun}; {hint(value, list(options))}")
        return value

    def entries(self) -> Iterator[tuple[str, Node, Node]]:
        """(key, node of the key, node of the value) of a mapping in file order; keys plain and unique."""
        if not isinstance(self.node, yaml.MappingNode):
            self.fail(f"expected a mapping, got {self.describe()}; write key: value lines under it")
        seen: dict[str, int] = {}
        for key_node, value_node in self.node.value:
            where = Node(key_node, self.path, self.file)
            if key_node.tag == TAG + "merge":
                where.fail("YAML merge keys (<<) are not supported; write the keys out")
            key = where.text()
            if key in seen:
                where.fail(f"key {key!r} appears twice (first on line {seen[key]}); YAML would keep only "
                           f"one of them, so remove or rename one")
            seen[key] = where.line
            # A value is reported on its key's line: a block mapping below a key starts a line later.
            yield key, where, self.child(value_node, key, where.line)

    def mapping(self, allowed: tuple, required: dict[str, str] | None = None) -> dict[str, Node]:
        """The values of a mapping with fixed keys; a key with an empty value counts as left out."""
        values = {}
        for key, where, value in self.entries():
            if key not in allowed:
                where.fail(f"unknown key {key!r}; {hint(key, list(allowed), 'allowed keys are')}")
            if not value.is_null:
                values[key] = value
        for key, example in (required or {}).items():
            if key not in values:
                self.fail(f"{key!r} is missing; add it, for example {example}")
        return values

    def named(self, max_length: int | None = None) -> Iterator[tuple[str, Node, Node]]:
        """Entries of a mapping keyed by the names of things (racks, VPCs, ...), each name checked."""
        for key, where, value in self.entries():
            name(where, key, max_length)
            yield key, where.at(value.path), value

    def sequence(self) -> list[Node]:
        if not isinstance(self.node, yaml.SequenceNode):
            self.fail(f"expected a list, got {self.describe()}; write it like [a, b]")
        return [self.child(node, index) for index, node in enumerate(self.node.value)]
