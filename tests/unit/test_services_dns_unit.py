"""The Amazon DNS server: the pure resolver for each VPC, and the wire answers for each ENI."""
import os

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import pytest

from testbed.services.dns import NOERROR, NXDOMAIN, REFUSED, DnsResponder, Record, Resolver, reverse_name
from testbed.services.state import ServiceState
from testbed.topology import load, loads

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture()
def state():
    return ServiceState.from_topology(load(os.path.join(ROOT, "topologies", "edge.yaml")))


@pytest.fixture()
def resolver(state):
    return Resolver(state)


def test_instance_names_of_the_asking_vpc_only(resolver, state):
    web, red = state.by_instance("web-1"), state.by_instance("red-web-1")
    assert web.ip == red.ip == "10.0.1.10"           # overlapping VPCs, one name, two answers
    assert resolver.resolve("blue", "ip-10-0-1-10.ec2.internal.", "A") == (
        NOERROR, [Record("ip-10-0-1-10.ec2.internal", "A", 60, "10.0.1.10")])
    assert resolver.resolve("red", "IP-10-0-1-10.EC2.internal", "A")[1][0].value == "10.0.1.10"
    green = state.by_instance("green-1").ip
    name = f"ip-{green.replace('.', '-')}.ec2.internal"
    assert resolver.resolve("green", name, "A")[0] == NOERROR
    assert resolver.resolve("blue", name, "A") == (NXDOMAIN, [])   # another VPC's name


def test_reverse_records(resolver):
    assert reverse_name("10.0.1.10") == "10.1.0.10.in-addr.arpa"
    assert resolver.resolve("blue", "10.1.0.10.in-addr.arpa", "PTR") == (
        NOERROR, [Record("10.1.0.10.in-addr.arpa", "PTR", 60, "ip-10-0-1-10.ec2.internal")])
    assert resolver.resolve("blue", "99.1.0.10.in-addr.arpa", "PTR") == (NXDOMAIN, [])


def test_private_zone_only_where_associated(resolver, state):
    db = state.by_instance("db-1").ip
    assert resolver.resolve("blue", "db.corp.internal", "A") == (NOERROR, [Record("db.corp.internal", "A", 300, db)])
    assert resolver.resolve("blue", "api.corp.internal", "A")[1][0].value == "10.0.2.50"
    assert resolver.resolve("blue", "nothing.corp.internal", "A") == (NXDOMAIN, [])
    assert resolver.resolve("blue", "corp.internal", "A") == (NOERROR, [])
    for vpc in ("red", "green", "shop"):
        assert resolver.resolve(vpc, "db.corp.internal", "A") == (NXDOMAIN, [])


def test_a_record_naming_an_instance_follows_its_address(state):
    facts = state.by_instance("db-1")
    resolver = Resolver(state)
    assert resolver.resolve("blue", "db.corp.internal", "A")[1][0].value == facts.ip
    state.apply({"op": "eni", "eni": dict(state.to_dict()["enis"][facts.ident - 1], ip="10.0.1.99")})
    assert resolver.resolve("blue", "db.corp.internal", "A")[1][0].value == "10.0.1.99"
    assert resolver.resolve("blue", "ip-10-0-1-99.ec2.internal", "A")[0] == NOERROR


def test_internet_names_and_the_rest(resolver):
    assert resolver.resolve("red", "www.example.com", "A") == (NOERROR, [Record("www.example.com", "A", 300,
                                                                                "198.51.100.10")])
    assert resolver.resolve("red", "example.com", "A") == (NXDOMAIN, [])
    assert resolver.resolve("red", "www.amazon.com", "A") == (NXDOMAIN, [])


def test_other_types(resolver):
    assert resolver.resolve("blue", "ip-10-0-1-10.ec2.internal", "AAAA") == (NOERROR, [])   # no data
    assert resolver.resolve("blue", "ip-10-0-1-10.ec2.internal", "ANY")[1][0].rtype == "A"
    assert resolver.resolve("blue", "www.example.com", "MX") == (NOERROR, [])
    assert resolver.resolve("blue", "corp.internal", "AXFR") == (REFUSED, [])


def test_a_private_zone_shadows_the_internet():
    topology = loads("fabric: {azs: {use1-az1: {racks: {r1: {hosts: 1}}}}}\n"
                     "outside: {internet: {hosts: {web: {ip: 198.51.100.10, dns_name: www.example.com}}}}\n"
                     "dns: {private_zones: {example.com: {vpcs: [a], records: {db: 10.0.1.5}}}}\n"
                     "vpcs:\n"
                     "  a: {cidr: 10.0.0.0/16, subnets: {s: {cidr: 10.0.1.0/24, az: use1-az1}},"
                     " instances: {i: {subnet: s}}}\n"
                     "  b: {cidr: 10.0.0.0/16, subnets: {s2: {cidr: 10.0.1.0/24, az: use1-az1}},"
                     " instances: {j: {subnet: s2}}}\n")
    resolver = Resolver(ServiceState.from_topology(topology))
    assert resolver.resolve("a", "www.example.com", "A") == (NXDOMAIN, [])
    assert resolver.resolve("b", "www.example.com", "A")[1][0].value == "198.51.100.10"


def test_names_outside_us_east_1():
    topology = loads("region: eu-west-1\nfabric: {azs: {euw1-az1: {racks: {r1: {hosts: 1}}}}}\n"
                     "vpcs: {v: {cidr: 10.0.0.0/16, subnets: {a: {cidr: 10.0.1.0/24, az: euw1-az1}},"
                     " instances: {i: {subnet: a, ip: 10.0.1.7}}}}\n")
    resolver = Resolver(ServiceState.from_topology(topology))
    assert resolver.resolve("v", "ip-10-0-1-7.eu-west-1.compute.internal", "A")[1][0].value == "10.0.1.7"
    assert resolver.resolve("v", "ip-10-0-1-7.ec2.internal", "A") == (NXDOMAIN, [])
    assert resolver.resolve("v", "7.1.0.10.in-addr.arpa", "PTR")[1][0].value == "ip-10-0-1-7.eu-west-1.compute.internal"


# ---- the wire ------------------------------------------------------------------------------------

def ask(responder, ident, name, rdtype="A", **kw):
    query = dns.message.make_query(name, rdtype, **kw)
    return query, dns.message.from_wire(responder.answer(ident, query.to_wire()))


def test_wire_answers(state):
    responder = DnsResponder(state)
    query, response = ask(responder, state.by_instance("web-1").ident, "ip-10-0-1-10.ec2.internal")
    assert response.id == query.id and response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.QR and response.flags & dns.flags.RA and response.flags & dns.flags.RD
    assert [r.to_text() for r in response.answer[0]] == ["10.0.1.10"] and response.answer[0].ttl == 60
    _, response = ask(responder, state.by_instance("red-web-1").ident, "db.corp.internal")
    assert response.rcode() == dns.rcode.NXDOMAIN and not response.answer
    _, response = ask(responder, 1, "10.1.0.10.in-addr.arpa", "PTR", use_edns=0)
    assert response.answer[0][0].to_text() == "ip-10-0-1-10.ec2.internal." and response.edns == 0
    assert responder.counters["queries"] == 3 and responder.counters["nxdomain"] == 1


def test_wire_refusals(state):
    responder = DnsResponder(state)
    _, response = ask(responder, 12345, "ip-10-0-1-10.ec2.internal")          # no such ENI
    assert response.rcode() == dns.rcode.REFUSED and responder.counters["unknown_eni"] == 1
    _, response = ask(responder, 1, "ip-10-0-1-10.ec2.internal", rdclass="CH")
    assert response.rcode() == dns.rcode.REFUSED
    query = dns.message.make_query("ip-10-0-1-10.ec2.internal", "A")
    query.set_opcode(dns.opcode.NOTIFY)
    assert dns.message.from_wire(responder.answer(1, query.to_wire())).rcode() == dns.rcode.NOTIMP
    query = dns.message.make_query("x.ec2.internal", "A")
    query.flags |= dns.flags.QR
    assert responder.answer(1, query.to_wire()) is None                        # a response: not answered
    junk = responder.answer(1, b"\x12\x34\x01\x00\x00\x01" + b"\xff" * 10)
    assert junk[:2] == b"\x12\x34" and dns.message.from_wire(junk).rcode() == dns.rcode.FORMERR
    assert responder.answer(1, b"\x00") is None


def test_wire_details(state):
    responder = DnsResponder(state)
    _, response = ask(responder, 1, "IP-10-0-1-10.Ec2.Internal")              # 0x20: the case comes back
    assert response.question[0].name.to_text() == "IP-10-0-1-10.Ec2.Internal."
    assert response.answer[0].name.to_text() == "IP-10-0-1-10.Ec2.Internal."
    _, response = ask(responder, 1, "ip-10-0-1-10.ec2.internal", use_edns=0, payload=4096)
    assert response.edns == 0 and response.payload == 1232
    _, response = ask(responder, 1, "ip-10-0-1-10.ec2.internal")
    assert response.edns == -1
    query = dns.message.make_query("ip-10-0-1-10.ec2.internal", "A")
    response = dns.message.from_wire(responder.answer(1, query.to_wire(), udp=False))
    assert response.answer[0][0].to_text() == "10.0.1.10"
    empty = query.to_wire()[:4] + b"\x00\x00" + query.to_wire()[6:12]          # no question
    assert dns.message.from_wire(responder.answer(1, empty)).rcode() == dns.rcode.FORMERR
    pointer = query.to_wire()[:12] + b"\xc0\x0c\x00\x01\x00\x01"               # a compressed question name
    assert dns.message.from_wire(responder.answer(1, pointer)).rcode() == dns.rcode.FORMERR


def test_truncation():
    from testbed.services import dns_wire
    query = dns_wire.parse_query(dns.message.make_query("x.example", "A").to_wire())
    records = [Record("x.example", "A", 60, f"10.0.0.{n}") for n in range(40)]
    full = dns.message.from_wire(dns_wire.response(query, NOERROR, records, limit=65535))
    assert len(full.answer[0]) == 40
    cut = dns.message.from_wire(dns_wire.response(query, NOERROR, records, limit=512))
    assert cut.flags & dns.flags.TC and not cut.answer and cut.question[0].name.to_text() == "x.example."
