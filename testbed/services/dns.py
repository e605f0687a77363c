"""The Amazon DNS server of each VPC, at the VPC's base + 2 and at 169.254.169.253.

`Resolver.resolve(vpc, qname, qtype) -> (rcode, records)` is pure: for the asking VPC it knows
- `ip-10-0-1-10.ec2.internal` (us-east-1; `ip-10-0-1-10.<region>.compute.internal` elsewhere) for
  each of the VPC's instances, and the PTR record of each instance's address (10.in-addr.arpa ...);
- the private hosted zones associated with the VPC, and only those: a name inside such a zone is
  answered from the zone alone (NXDOMAIN if the zone has no such record), as Route 53 does;
- the internet hosts' `dns_name`s;
and NXDOMAIN for the rest (another VPC's names too). A known name asked for another type has no
records (NOERROR, "NODATA"); zone transfers are REFUSED. `DnsResponder.answer` speaks the wire
format (dns_wire.py) for one ENI and counts what it answered.
"""
from __future__ import annotations

from collections import Counter, namedtuple

from . import dns_wire as wire
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
        if wire.is_response(data):
            self.counters["ignored"] += 1
            return None
        try:
            query = wire.parse_query(data)
        except wire.WireError:
            self.counters["formerr"] += 1
            return wire.error(data, FORMERR)
        rcode, records = self._resolve(ident, query)
        self.counters[RCODE_NAMES.get(rcode, str(rcode))] += 1
        if rcode == NOERROR and not records:
            self.counters["nodata"] += 1
        limit = max(UDP_LIMIT, query.edns_payload or 0) if udp else 65535
        reply = wire.response(query, rcode, records, limit)
        if reply[2] & 0x02:
            self.counters["truncated"] += 1
        return reply

    def _resolve(self, ident, query):
        facts = self.state.eni(ident)
        if facts is None:
            self.counters["unknown_eni"] += 1
            return REFUSED, []
        if query.opcode != wire.OPCODE_QUERY:
            return NOTIMP, []
        if query.qname is None:
            return FORMERR, []
        if query.qclass != wire.CLASS_IN:
            return REFUSED, []
        return self.resolver.resolve(facts.vpc, query.qname, query.qtype)
