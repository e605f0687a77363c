"""The DNS wire format (RFC 1035, EDNS of RFC 6891), as much as the Amazon DNS server needs: read
one query, write its response.  struct only: a general DNS library costs 10 to 30 times more per
answer (docs/services.md, "Speed"), and the responder only ever answers one question with A or
PTR records.

The response copies the question as it came (so a resolver's 0x20 case randomisation survives) and
names it in answers by a compression pointer; a query with an OPT record gets one back.
"""
from __future__ import annotations

import socket
import struct
from collections import namedtuple

_HEADER = struct.Struct("!HHHHHH")
_TAIL = struct.Struct("!HH")          # qtype, qclass
_RR = struct.Struct("!HHIH")          # type, class, ttl, rdlength
QR, AA, TC, RD, RA = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080
OPCODE_QUERY = 0
CLASS_IN = 1
TYPE_OPT = 41
EDNS_PAYLOAD = 1232                   # what we offer (the DNS flag day's size)
TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV",
         251: "IXFR", 252: "AXFR", 255: "ANY"}
TYPE_CODES = {name: code for code, name in TYPES.items()}
POINTER_TO_QUESTION = b"\xc0\x0c"

Query = namedtuple("Query", "id flags opcode qname qtype qclass question edns_payload")
Query.__doc__ = """One query: qname in text (as sent, no final dot), qtype a name ('A', 'TYPE99'),
question the question section's bytes, edns_payload the client's UDP size (None: no EDNS)."""


class WireError(ValueError):
    """A message that is not a well-formed query."""


def is_response(data: bytes) -> bool:
    return len(data) >= 3 and bool(data[2] & 0x80)


def parse_query(data: bytes) -> Query:
    if len(data) < _HEADER.size:
        raise WireError("shorter than a header")
    ident, flags, qdcount, _, _, arcount = _HEADER.unpack_from(data)
    opcode = (flags >> 11) & 0xF
    if qdcount != 1:
        return Query(ident, flags, opcode, None, None, None, b"", None)
    labels, at = [], _HEADER.size
    while True:
        if at >= len(data):
            raise WireError("the name runs past the end")
        length = data[at]
        if length == 0:
            at += 1
            break
        if length > 63 or at + 1 + length > len(data):      # compression pointers too: none in a question
            raise WireError("a label that is too long or compressed")
        labels.append(data[at + 1:at + 1 + length])
        at += 1 + length
        if at - _HEADER.size > 255:
            raise WireError("a name longer than 255 bytes")
    if at + _TAIL.size > len(data):
        raise WireError("no question type and class")
    qtype, qclass = _TAIL.unpack_from(data, at)
    question = data[_HEADER.size:at + _TAIL.size]
    try:
        qname = b".".join(labels).decode("ascii")
    except UnicodeDecodeError:
        raise WireError("a name that is not ASCII") from None
    return Query(ident, flags, opcode, qname, TYPES.get(qtype, f"TYPE{qtype}"), qclass, question,
                 _edns_payload(data, at + _TAIL.size, arcount))


def _edns_payload(data: bytes, at: int, arcount: int) -> int | None:
    """The UDP payload size of an OPT record right after the question (where clients put it)."""
    if arcount < 1 or at + 1 + _RR.size > len(data) or data[at] != 0:
        return None
    rtype, payload, _, _ = _RR.unpack_from(data, at + 1)
    return max(payload, 512) if rtype == TYPE_OPT else None


def encode_name(name: str) -> bytes:
    out = b"".join(bytes([len(label)]) + label for label in (p.encode("ascii") for p in name.split(".") if p))
    return out + b"\0"


def response(query: Query, rcode: int, records=(), limit: int = 512) -> bytes:
    """The response to `query` with rcode and records (Record: name, rtype, ttl, value; each names
    the question); answers are dropped and TC set if it would be longer than limit."""
    flags = QR | (query.opcode << 11) | (query.flags & RD) | RA | (rcode & 0xF)
    answers = []
    for r in records:
        rdata = socket.inet_aton(r.value) if r.rtype == "A" else encode_name(r.value)
        answers.append(POINTER_TO_QUESTION + _RR.pack(TYPE_CODES[r.rtype], CLASS_IN, r.ttl, len(rdata)) + rdata)
    opt = b"\0" + _RR.pack(TYPE_OPT, EDNS_PAYLOAD, 0, 0) if query.edns_payload is not None else b""
    qdcount = 1 if query.question else 0
    body = query.question + b"".join(answers)
    if _HEADER.size + len(body) + len(opt) > limit:
        flags, body = flags | TC, query.question
        answers = []
    return _HEADER.pack(query.id, flags, qdcount, len(answers), 0, 1 if opt else 0) + body + opt


def error(data: bytes, rcode: int) -> bytes | None:
    """A bare response with rcode and the id and opcode of what came, if at least a header came."""
    if len(data) < _HEADER.size:
        return None
    ident, flags = struct.unpack_from("!HH", data)
    return _HEADER.pack(ident, QR | (flags & 0x7800) | (flags & RD) | RA | rcode, 0, 0, 0, 0)
