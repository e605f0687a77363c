"""The Amazon DNS server of each VPC, at the VPC's base + 2 and at 169.254.169.253.

`Resolver.resolve(vpc, qname, qtype) -> (rcode, records)` is pure: for the asking VPC it knows
- `ip-10-0-1-10.ec2.internal` (us-east-1; `ip-10-0-1-10.<region>.compute.internal` elsewhere) for
  each of the VPC's instances, and the PTR record of each instance's address (10.in-addr.arpa ...);
- the private hosted zones associated with the VPC, and only those: a name inside such a zone is
  answered from the zone alone (NXDOMAIN if the zone has no such record), as Route 53 does;
- the internet hosts' `dns_name`s;
and NXDOMAIN for the rest (another VPC's names too). A known name asked for another type has no
records (NOERROR, "NODATA"); zone transfers are REFUSED. `DnsResponder.answer` speaks the wire
format (dnspython's) for one ENI and counts what it answered.
"""
from __future__ import annotations

from collections import Counter, namedtuple

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from .addresses import private_hostname

Record = namedtuple("Record", "name rtype ttl value")   # name without the final dot; rtype 'A' or 'PTR'
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
INSTANCE_TTL = 60                    # the TTL AWS gives instances' private names
ZONE_TTL = 300                       # Route 53's usual record TTL
REFUSED_TYPES = ("AXFR", "IXFR")     # the Amazon DNS server is no zone's primary
UDP_LIMIT = 512                      # without EDNS
RCODE_NAMES = {NOERROR: "noerror", FORMERR: "formerr", SERVFAIL: "servfail", NXDOMAIN: "nxdomain",
               NOTIMP: "notimp", REFUSED: "refused"}


def reverse_name(ip: str) -> str:
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"


class Resolver:
    def __init__(self, state):
        self.state = state
        self._generation = None
        self._vpcs: dict = {}

    def _tables(self, vpc: str):
        """(instance names -> IP, reverse names -> name, [(zone, {fqdn: IP})] longest zone first)."""
        if self._generation != self.state.generation:
            self._vpcs, self._generation = {}, self.state.generation
        if vpc not in self._vpcs:
            state = self.state
            mine = [f for f in state.enis.values() if f.vpc == vpc]
            names = {private_hostname(f.ip, state.region): f.ip for f in mine}
            reverse = {reverse_name(ip): name for name, ip in names.items()}
            current = {f.instance: f.ip for f in state.enis.values()}
            zones = [(z.name, {r.fqdn: current.get(r.instance, r.ip) for r in z.records})
                     for z in state.zones if vpc in z.vpcs]
            zones.sort(key=lambda z: -len(z[0]))
            self._vpcs[vpc] = (names, reverse, zones)
        return self._vpcs[vpc]

    def resolve(self, vpc: str, qname: str, qtype: str) -> tuple[int, list[Record]]:
        name, qtype = qname.lower().rstrip("."), qtype.upper()
        if qtype in REFUSED_TYPES:
            return REFUSED, []
        names, reverse, zones = self._tables(vpc)
        zone = next(((z, records) for z, records in zones if name == z or name.endswith(f".{z}")), None)
        if zone is not None:
            found = zone[1].get(name)
            if found is None:
                return (NOERROR if name == zone[0] else NXDOMAIN), []
            return NOERROR, _address(name, found, qtype, ZONE_TTL)
        if name in names:
            return NOERROR, _address(name, names[name], qtype, INSTANCE_TTL)
        if name in reverse:
            records = [Record(name, "PTR", INSTANCE_TTL, reverse[name])] if qtype in ("PTR", "ANY") else []
            return NOERROR, records
        if name in self.state.internet:
            return NOERROR, _address(name, self.state.internet[name], qtype, ZONE_TTL)
        return NXDOMAIN, []


def _address(name: str, ip: str, qtype: str, ttl: int) -> list[Record]:
    return [Record(name, "A", ttl, ip)] if qtype in ("A", "ANY") else []


class DnsResponder:
    """One VPC-aware answer per query, and counters (docs/services.md, "Counters")."""

    def __init__(self, state):
        self.state = state
        self.resolver = Resolver(state)
        self.counters = Counter()

    def answer(self, ident: int | None, data: bytes, udp: bool = True) -> bytes | None:
        """The response to the query `data` from the ENI `ident`; None: nothing to send."""
        self.counters["queries"] += 1
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return self._formerr(data)
        if query.flags & dns.flags.QR:
            self.counters["ignored"] += 1
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        facts = self.state.eni(ident)
        if facts is None:
            self.counters["unknown_eni"] += 1
            rcode = REFUSED
        elif query.opcode() != dns.opcode.QUERY:
            rcode = NOTIMP
        elif len(query.question) != 1:
            rcode = FORMERR
        elif query.question[0].rdclass != dns.rdataclass.IN:
            rcode = REFUSED
        else:
            question = query.question[0]
            rcode, records = self.resolver.resolve(facts.vpc, question.name.to_text(),
                                                   dns.rdatatype.to_text(question.rdtype))
            for r in records:
                value = f"{r.value}." if r.rtype == "PTR" else r.value
                response.answer.append(dns.rrset.from_text(f"{r.name}.", r.ttl, "IN", r.rtype, value))
            if rcode == NOERROR and not records:
                self.counters["nodata"] += 1
        response.set_rcode(rcode)
        self.counters[RCODE_NAMES.get(rcode, str(rcode))] += 1
        limit = max(UDP_LIMIT, query.payload if query.edns >= 0 else 0) if udp else 65535
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            response.answer.clear()
            response.flags |= dns.flags.TC
            self.counters["truncated"] += 1
            return response.to_wire()

    def _formerr(self, data: bytes) -> bytes | None:
        """FORMERR with the query's id, when at least its header came; else nothing."""
        self.counters["formerr"] += 1
        if len(data) < 12:
            return None
        flags = 0x8000 | (data[2] & 0x78) << 8 | FORMERR      # QR, the query's opcode, FORMERR
        return data[:2] + flags.to_bytes(2, "big") + bytes(8)
