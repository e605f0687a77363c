"""Loading and validating topology files (testbed.topology): no root, no Mininet."""
import dataclasses
import random
import re
from pathlib import Path

import pytest
import yaml

from testbed.topology import PhysicalHost, TopologyError, ids, load, loads

# The first example of the format reference, verbatim: it must always load.
EXAMPLE = """\
format: 1
name: two-tenants
region: us-east-1
mode: proactive            # mapping caches: proactive (filled before traffic) | reactive (filled on a miss)
encapsulation: geneve      # geneve | vxlan
mtu: 9001                  # instance MTU inside VPCs

fabric:
  spines: 1
  azs:
    use1-az1:
      racks:
        r1: {hosts: 2, vcpus: 32, memory_gib: 128}   # capacity of each physical host in the rack
        r2: {hosts: 2}
    use1-az2:
      racks:
        r3: {hosts: 2}
# physical hosts are named <rack>-h<N>: r1-h1, r1-h2, r2-h1, ...

accounts: [alice, bob]     # optional; one default account otherwise

vpcs:
  blue:
    account: alice
    cidr: 10.0.0.0/16
    subnets:
      blue-a: {cidr: 10.0.1.0/24, az: use1-az1}
      blue-b: {cidr: 10.0.2.0/24, az: use1-az2}
    placement_groups:
      spread-1: {strategy: spread}                 # cluster | spread | partition
    instances:                                     # names are unique in the whole file
      web-1: {subnet: blue-a, ip: 10.0.1.10, type: t3.micro}
      web-2: {subnet: blue-b, type: m5.large, placement_group: spread-1}
      db-1:  {subnet: blue-a, tenancy: dedicated, host: r1-h2}   # host: optional pin
  red:
    account: bob
    cidr: 10.0.0.0/16                              # same CIDR as blue: allowed
    subnets:
      red-a: {cidr: 10.0.1.0/24, az: use1-az1}
    instances:
      red-web-1: {subnet: red-a, ip: 10.0.1.10}    # same IP as web-1: allowed
  green:
    account: alice
    cidr: 10.1.0.0/16
    subnets:
      green-a: {cidr: 10.1.1.0/24, az: use1-az2}
    instances:
      green-1: {subnet: green-a}

peering:
  - {name: blue-green, vpcs: [blue, green]}
"""

MINIMAL = """\
fabric:
  azs:
    az1:
      racks:
        r1: {hosts: 2}
vpcs:
  v:
    cidr: 10.0.0.0/16
    subnets:
      s: {cidr: 10.0.1.0/24, az: az1}
    instances:
      a: {subnet: s}
"""

FILE = "topologies/x.yaml"


def line_of(text, snippet, nth=1):
    """1-based line of the nth line that contains snippet."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if snippet in line]
    return hits[nth - 1]


def edit(old, new, text=EXAMPLE):
    assert old in text, old
    return text.replace(old, new, 1)


def error(text):
    with pytest.raises(TopologyError) as info:
        loads(text, FILE)
    message = str(info.value)
    assert "\n" not in message
    return message


def expect(text, snippet, key, message, nth=1):
    """The error names the file, the line holding snippet, the key path, and says what is wrong and right."""
    prefix = f"{FILE}:{line_of(text, snippet, nth)}: " + (f"{key}: " if key else "")
    assert error(text) == prefix + message


# --- the example and the model -------------------------------------------------------------------

def test_example_loads_with_expected_counts():
    t = loads(EXAMPLE, FILE)
    assert (t.name, t.region, t.mode, t.encapsulation, t.mtu, t.spines) == \
        ("two-tenants", "us-east-1", "proactive", "geneve", 9001, 1)
    assert t.azs == ("use1-az1", "use1-az2")
    assert list(t.racks) == ["r1", "r2", "r3"]
    assert list(t.hosts) == ["r1-h1", "r1-h2", "r2-h1", "r2-h2", "r3-h1", "r3-h2"]
    assert t.accounts == ("alice", "bob")
    assert list(t.vpcs) == ["blue", "red", "green"]
    assert [len(v.subnets) for v in t.vpcs.values()] == [2, 1, 1]
    assert [i.name for i in t.instances()] == ["web-1", "web-2", "db-1", "red-web-1", "green-1"]
    assert [(p.name, p.vpcs) for p in t.peerings] == [("blue-green", ("blue", "green"))]


def test_example_model_values():
    t = loads(EXAMPLE, FILE)
    assert t.hosts["r2-h1"] == PhysicalHost("r2-h1", 3, "use1-az1", "r2", 32, 128, "100.127.0.3")
    assert t.racks["r3"].hosts == ("r3-h1", "r3-h2") and t.racks["r3"].az == "use1-az2"
    assert [v.vni for v in t.vpcs.values()] == [100, 101, 102]
    assert [v.account for v in t.vpcs.values()] == ["alice", "bob", "alice"]
    blue_a = t.vpcs["blue"].subnets["blue-a"]
    assert (blue_a.vpc, blue_a.az, blue_a.gateway_ip, str(blue_a.network)) == \
        ("blue", "use1-az1", "10.0.1.1", "10.0.1.0/24")
    web2, db1 = t.instance("web-2"), t.instance("db-1")
    assert (web2.type, web2.placement_group, web2.tenancy, web2.account) == ("m5.large", "spread-1", "default", "alice")
    assert (db1.tenancy, db1.pinned_host, db1.host, db1.type) == ("dedicated", "r1-h2", "r1-h2", "t3.micro")
    assert db1.line == line_of(EXAMPLE, "db-1:") and db1.key == "vpcs.blue.instances.db-1"
    assert t.vpcs["blue"].placement_groups["spread-1"].strategy == "spread"


def test_identical_ips_in_two_vpcs_are_accepted():
    t = loads(EXAMPLE)
    assert t.instance("web-1").ip == t.instance("red-web-1").ip == "10.0.1.10"
    assert t.vpcs["blue"].cidr == t.vpcs["red"].cidr


def test_auto_ips_start_at_4_and_skip_written_ones():
    text = edit("      a: {subnet: s}\n", "      a: {subnet: s}\n      b: {subnet: s, ip: 10.0.1.5}\n"
                                          "      c: {subnet: s}\n      d: {subnet: s}\n", MINIMAL)
    t = loads(text)
    assert [i.ip for i in t.instances()] == ["10.0.1.4", "10.0.1.5", "10.0.1.6", "10.0.1.7"]
    assert loads(EXAMPLE).instance("db-1").ip == "10.0.1.4"


def test_ids_are_deterministic_and_aws_like():
    one, two = loads(EXAMPLE, "a.yaml"), loads(EXAMPLE, "b.yaml")
    assert one.vpcs == two.vpcs and one.peerings == two.peerings
    patterns = {"vpc": one.vpcs["blue"].id, "subnet": one.vpcs["blue"].subnets["blue-a"].id,
                "i": one.instance("web-1").id, "eni": one.instance("web-1").eni, "pcx": one.peerings[0].id}
    for prefix, value in patterns.items():
        assert re.fullmatch(prefix + "-[0-9a-f]{17}", value), value
    ids = [v.id for v in one.vpcs.values()] + [i.id for i in one.instances()] + [i.eni for i in one.instances()]
    assert len(set(ids)) == len(ids)
    # Subnets of the same name in different VPCs still get different ids.
    text = edit("red-a", "blue-a", edit("red-a", "blue-a"))
    assert loads(text).vpcs["red"].subnets["blue-a"].id != loads(text).vpcs["blue"].subnets["blue-a"].id
    # The topology name is part of the hash.
    assert loads(edit("name: two-tenants", "name: other")).vpcs["blue"].id != one.vpcs["blue"].id


def test_macs_are_deterministic_locally_administered_and_unique():
    macs = [i.mac for i in loads(EXAMPLE).instances()]
    assert macs == [i.mac for i in loads(EXAMPLE).instances()]
    assert len(set(macs)) == len(macs)
    for mac in macs:
        assert re.fullmatch("0e(:[0-9a-f]{2}){5}", mac)
        assert int(mac[:2], 16) & 0b11 == 0b10  # locally administered, unicast


def test_mac_collisions_are_bumped(monkeypatch):
    monkeypatch.setattr(ids.Ids, "_digest", lambda self, kind, name: "0" * 64)
    macs = [i.mac for i in loads(EXAMPLE).instances()]
    assert macs == [f"0e:00:00:00:00:0{n}" for n in range(5)]


def test_defaults_of_a_minimal_file():
    t = loads(MINIMAL, "topologies/small.yaml")
    assert (t.name, t.region, t.mode, t.encapsulation, t.mtu, t.spines, t.accounts) == \
        ("small", "us-east-1", "proactive", "geneve", 9001, 1, ("default",))
    assert (t.hosts["r1-h1"].vcpus, t.hosts["r1-h1"].memory_gib) == (32, 128)
    a = t.instance("a")
    assert (a.type, a.tenancy, a.account, a.placement_group, a.partition, a.pinned_host) == \
        ("t3.micro", "default", "default", None, None, None)
    assert t.vpcs["v"].vni == 100


def test_empty_values_count_as_left_out():
    text = edit("vpcs:\n", "mode:\naccounts:\nvpcs:\n", MINIMAL) + "    placement_groups:\n"
    t = loads(edit("{subnet: s}", "{subnet: s, ip: , host: ~}", text))
    assert t.mode == "proactive" and t.accounts == ("default",) and not t.vpcs["v"].placement_groups
    assert t.instance("a").ip == "10.0.1.4" and t.instance("a").pinned_host is None


def test_format_may_be_left_out_and_vni_given():
    t = loads(edit("    cidr: 10.0.0.0/16", "    cidr: 10.0.0.0/16\n    vni: 5000", MINIMAL))
    assert t.vpcs["v"].vni == 5000


def test_model_is_immutable():
    t = loads(EXAMPLE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.mode = "reactive"
    with pytest.raises(TypeError):
        t.vpcs["blue"].instances["x"] = None
    assert isinstance(t.racks["r1"].hosts, tuple) and isinstance(t.peerings, tuple)
    assert hash(t.vpcs["blue"]) == hash(loads(EXAMPLE).vpcs["blue"])


def test_lookups():
    t = loads(EXAMPLE)
    assert t.vpc_of("red-web-1").name == "red"
    assert t.subnet_of("web-2").name == "blue-b"
    assert t.peered("green", "blue") and t.peered("blue", "green")
    assert not t.peered("blue", "red") and not t.peered("blue", "blue")
    with pytest.raises(KeyError):
        t.instance("nope")
    with pytest.raises(KeyError):
        t.vpc_of("nope")


def test_with_mode():
    t = loads(EXAMPLE, FILE)
    assert t.with_mode("reactive").mode == "reactive" and t.mode == "proactive"
    with pytest.raises(TopologyError) as info:
        t.with_mode("lazy")
    assert str(info.value) == f"{FILE}: mode: 'lazy' is not a mode; use proactive or reactive"


def test_load_reads_a_file_and_names_it_after_its_stem(tmp_path):
    path = tmp_path / "lab-one.yaml"
    path.write_text(MINIMAL.replace("r1: {hosts: 2}", "r1: {hosts: 2x}"))
    with pytest.raises(TopologyError) as info:
        load(path)
    assert str(info.value).startswith(f"{path}:5: fabric.azs.az1.racks.r1.hosts: expected a whole number")
    path.write_text(MINIMAL)
    assert load(path).name == "lab-one"


def test_load_reports_missing_directory_and_binary_files(tmp_path):
    with pytest.raises(TopologyError, match=r"nope.yaml: no such file; check the path$"):
        load(tmp_path / "nope.yaml")
    with pytest.raises(TopologyError, match=r": is a directory; name a topology .yaml file$"):
        load(tmp_path)
    (tmp_path / "bin.yaml").write_bytes(b"fabric: \xff\xfe")
    with pytest.raises(TopologyError, match=r"bin.yaml: is not UTF-8 text \(byte 8\); save it as UTF-8$"):
        load(tmp_path / "bin.yaml")


def test_docs_first_example_loads():
    docs = Path(__file__).resolve().parents[2] / "docs" / "topology-format.md"
    first = re.search(r"```yaml\n(.*?)```", docs.read_text(), re.S).group(1)
    assert first == EXAMPLE
    assert len(loads(first).instances()) == 5


# --- YAML and the shape of the file --------------------------------------------------------------

def test_yaml_syntax_error_names_the_line():
    text = edit("  spines: 1", "  spines: 1\n  azs: [oops")
    assert error(text).startswith(f"{FILE}:11: YAML syntax error: while parsing a flow sequence")
    assert error("a: b: c").startswith(f"{FILE}:1: YAML syntax error: mapping values are not allowed here; "
                                       f"check the indentation")


def test_characters_yaml_forbids():
    assert error("fabric:\n  \x07") == f"{FILE}:2: character U+0007 is not allowed in YAML; remove it"


def test_deep_nesting_is_refused():
    assert error("[" * 1000).endswith("the YAML is nested too deeply to read; a topology needs only a few levels")


def test_empty_file():
    assert error("# nothing\n") == (f"{FILE}: the topology is empty; it needs at least a fabric: "
                                    f"(see docs/topology-format.md)")


def test_top_level_must_be_a_mapping():
    assert error("- fabric\n") == (f"{FILE}:1: the top level is a list, not a mapping; start the file with "
                                   f"keys like format: 1, fabric: and vpcs:")


def test_unsupported_format():
    text = edit("format: 1", "format: 2\nfirewall: {}")
    expect(text, "format: 2", "format", "2 is not supported; this version of vpclab reads format 1")
    expect(edit("format: 1", "format: '1'"), "format:", "format",
           "expected a whole number, got '1'; write digits without quotes, like 1")


def test_unknown_top_level_key_suggests_the_closest():
    text = edit("mtu: 9001", "mtu: 9001\npeerings: []")
    expect(text, "peerings", None, "unknown key 'peerings'; did you mean 'peering'? allowed keys are: format, "
                                   "name, region, mode, encapsulation, mtu, fabric, accounts, vpcs, peering, "
                                   "outside, edge, ... (15 in all)")


def test_unknown_nested_key_suggests_the_closest():
    text = edit("blue-a: {cidr: 10.0.1.0/24", "blue-a: {cdir: 10.0.1.0/24")
    expect(text, "blue-a: {cdir", "vpcs.blue.subnets.blue-a",
           "unknown key 'cdir'; did you mean 'cidr'? allowed keys are: cidr, az")


@pytest.mark.parametrize("old, new, snippet, key, message", [
    ("r2: {hosts: 2}", "r2: {hosts: [2]}", "r2:", "fabric.azs.use1-az1.racks.r2.hosts",
     "expected a whole number, got a list; write digits without quotes, like 1"),
    ("mtu: 9001 ", "mtu: '9001'", "mtu:", "mtu",
     "expected a whole number, got '9001'; write digits without quotes, like 1280"),
    ("    subnets:\n      red-a: {cidr: 10.0.1.0/24, az: use1-az1}", "    subnets: [red-a]", "subnets: [red-a]",
     "vpcs.red.subnets", "expected a mapping, got a list; write key: value lines under it"),
    ("accounts: [alice, bob]", "accounts: alice", "accounts:", "accounts",
     "expected a list, got 'alice'; write it like [a, b]"),
    ("account: bob", "account: [bob]", "account: [bob]", "vpcs.red.account",
     "expected a single value, got a list; write it like key: value"),
    ("spines: 1", "spines: 1.5", "spines:", "fabric.spines",
     "expected a whole number, got '1.5'; write digits without quotes, like 1"),
    ("spines: 1", "spines: true", "spines:", "fabric.spines",
     "expected a whole number, got 'true'; write digits without quotes, like 1"),
])
def test_wrong_types(old, new, snippet, key, message):
    text = edit(old, new)
    expect(text, snippet, key, message)


def test_duplicate_keys_are_caught():
    text = edit("      green-1: {subnet: green-a}",
                "      green-1: {subnet: green-a}\n      green-1: {subnet: green-a}")
    expect(text, "green-1:", "vpcs.green.instances", "key 'green-1' appears twice (first on line "
           f"{line_of(text, 'green-1:')}); YAML would keep only one of them, so remove or rename one", nth=2)
    text = edit("r2: {hosts: 2}", "r2: {hosts: 2, hosts: 3}")
    expect(text, "r2:", "fabric.azs.use1-az1.racks.r2",
           f"key 'hosts' appears twice (first on line {line_of(text, 'r2:')}); "
           f"YAML would keep only one of them, so remove or rename one")


def test_merge_keys_are_refused():
    text = edit("        r2: {hosts: 2}", "        r2: {<<: {hosts: 2}}")
    expect(text, "r2:", "fabric.azs.use1-az1.racks.r2", "YAML merge keys (<<) are not supported; write the keys out")


def test_missing_required_keys():
    expect(edit("      red-a: {cidr: 10.0.1.0/24, az: use1-az1}", "      red-a: {cidr: 10.0.1.0/24}"),
           "red-a: {cidr", "vpcs.red.subnets.red-a", "'az' is missing; add it, for example az: use1-az1")
    expect(edit("    cidr: 10.1.0.0/16\n", ""), "  green:", "vpcs.green",
           "'cidr' is missing; add it, for example cidr: 10.0.0.0/16")
    expect(edit("{subnet: green-a}", "{type: t3.nano}"), "green-1:", "vpcs.green.instances.green-1",
           "'subnet' is missing; add it, for example subnet: green-a")
    expect("format: 1\n", "format", None, "'fabric' is missing; add it, for example "
                                          "fabric: {azs: {use1-az1: {racks: {r1: {hosts: 2}}}}}")
    expect(edit("r2: {hosts: 2}", "r2: {vcpus: 2}"), "r2:", "fabric.azs.use1-az1.racks.r2",
           "'hosts' is missing; add it, for example hosts: 2")


def test_empty_fabric_parts():
    expect("fabric:\n  azs: {}\n", "azs", "fabric.azs",
           "there are no AZs; add one like use1-az1: {racks: {r1: {hosts: 2}}}")
    expect("fabric:\n  azs:\n    az1: {racks: {}}\n", "racks", "fabric.azs.az1.racks",
           "there are no racks; add one like r1: {hosts: 2}")
    expect(edit("r2: {hosts: 2}", "r2: {hosts: 0}"), "r2:", "fabric.azs.use1-az1.racks.r2.hosts",
           "0 is out of range; use a whole number of at least 1")


def test_rack_names_are_unique_across_the_fabric():
    expect(edit("r3: {hosts: 2}", "r1: {hosts: 2}"), "r1: {hosts: 2}", "fabric.azs.use1-az2.racks.r1",
           "rack 'r1' is already in use1-az1; rack names are unique across the fabric, so rename one")


def test_fabric_size_is_bounded_by_the_underlay():
    expect(edit("r2: {hosts: 2}", "r2: {hosts: 70000}"), "r2:", "fabric.azs.use1-az1.racks.r2.hosts",
           "the fabric would have more than 1000 physical hosts: host n takes port n of its rack's switch, "
           "whose ports from 1001 up go to the spines; use fewer hosts")
    # host 1001's cable and the ToR uplink to spine 1 would both take ToR port 1001
    text = edit("r3: {hosts: 2}", "r3: {hosts: 996}")
    assert len(loads(text).hosts) == 1000
    expect(edit("r3: {hosts: 2}", "r3: {hosts: 997}"), "r3:", "fabric.azs.use1-az2.racks.r3.hosts",
           "the fabric would have more than 1000 physical hosts: host n takes port n of its rack's switch, "
           "whose ports from 1001 up go to the spines; use fewer hosts")


# --- names ---------------------------------------------------------------------------------------

BAD_NAME = ("is not a valid name; use lower-case letters, digits and '-', starting with a letter or digit, "
            "like web-1")


def test_host_names_must_fit_a_bridge_name():
    expect(edit("r2: {hosts: 2}", "rack-long: {hosts: 10}"), "rack-long", "fabric.azs.use1-az1.racks.rack-long",
           "host names would reach 'rack-long-h10' (13 characters), but each becomes part of a bridge name "
           "and must have at most 12; use a shorter rack name")
    assert loads(edit("r2: {hosts: 2}", "rack-long: {hosts: 9}")).hosts["rack-long-h9"]


@pytest.mark.parametrize("old, new, snippet, key, bad", [
    ("r2: {hosts: 2}", "R2: {hosts: 2}", "R2:", "fabric.azs.use1-az1.racks", "R2"),
    ("    use1-az2:", "    use1_az2:", "use1_az2", "fabric.azs", "use1_az2"),
    ("  red:", "  -red:", "-red:", "vpcs", "-red"),
    ("blue-b: {cidr", "blue.b: {cidr", "blue.b:", "vpcs.blue.subnets", "blue.b"),
    ("web-1: {subnet", "web 1: {subnet", "web 1:", "vpcs.blue.instances", "web 1"),
    ("spread-1: {strategy", "Spread: {strategy", "Spread:", "vpcs.blue.placement_groups", "Spread"),
    ("accounts: [alice, bob]", "accounts: [alice, Bob]", "accounts:", "accounts[1]", "Bob"),
    ("region: us-east-1", "region: US East", "region:", "region", "US East"),
])
def test_names_must_suit_linux(old, new, snippet, key, bad):
    expect(edit(old, new), snippet, key, f"{bad!r} {BAD_NAME}")


def test_instance_names_have_at_most_32_characters():
    name = "a" * 33
    expect(edit("green-1:", f"{name}:"), name, "vpcs.green.instances",
           f"name {name!r} has 33 characters; use at most 32")


def test_instance_names_are_unique_in_the_whole_file():
    text = edit("red-web-1:", "web-1:")
    expect(text, "      web-1:", "vpcs.red.instances.web-1", f"instance name 'web-1' is already used on line "
           f"{line_of(text, 'web-1:')}; instance names are unique in the whole file, so rename one", nth=2)


# --- CIDRs and subnets ---------------------------------------------------------------------------

def test_malformed_cidr():
    text = edit("blue-a: {cidr: 10.0.1.0/24", "blue-a: {cidr: 10.0.1.0/33")
    assert error(text) == (f"{FILE}:{line_of(text, 'blue-a:')}: vpcs.blue.subnets.blue-a.cidr: "
                           f"'10.0.1.0/33' is not a CIDR block; write it like 10.0.1.0/24")
    expect(edit("cidr: 10.1.0.0/16", "cidr: 10.1.0.0"), "cidr: 10.1.0.0", "vpcs.green.cidr",
           "'10.1.0.0' is not a CIDR block; write it like 10.0.1.0/24")


def test_cidr_with_host_bits_set():
    expect(edit("blue-a: {cidr: 10.0.1.0/24", "blue-a: {cidr: 10.0.1.5/24"), "blue-a:",
           "vpcs.blue.subnets.blue-a.cidr", "10.0.1.5/24: host bits set; did you mean 10.0.1.0/24")


@pytest.mark.parametrize("prefix", [8, 15, 29, 32])
def test_vpc_prefix_must_be_16_to_28(prefix):
    network = {8: "10.0.0.0", 15: "10.0.0.0", 29: "10.1.0.0", 32: "10.1.0.0"}[prefix]
    expect(edit("cidr: 10.1.0.0/16", f"cidr: {network}/{prefix}"), f"cidr: {network}/{prefix}", "vpcs.green.cidr",
           f"/{prefix} is outside what AWS allows for a VPC; use a prefix from /16 to /28")


def test_subnet_prefix_must_be_16_to_28():
    expect(edit("green-a: {cidr: 10.1.1.0/24", "green-a: {cidr: 10.1.1.0/29"), "green-a:",
           "vpcs.green.subnets.green-a.cidr",
           "/29 is outside what AWS allows for a subnet; use a prefix from /16 to /28")


def test_subnet_outside_its_vpc():
    expect(edit("green-a: {cidr: 10.1.1.0/24", "green-a: {cidr: 10.2.1.0/24"), "green-a:",
           "vpcs.green.subnets.green-a.cidr",
           "10.2.1.0/24 is outside vpc green (10.1.0.0/16); pick a block inside 10.1.0.0/16")


def test_overlapping_subnets():
    text = edit("blue-b: {cidr: 10.0.2.0/24", "blue-b: {cidr: 10.0.0.0/22")
    expect(text, "blue-b:", "vpcs.blue.subnets.blue-b.cidr", f"10.0.0.0/22 overlaps subnet blue-a (10.0.1.0/24, "
           f"line {line_of(text, 'blue-a:')}); pick a block that does not overlap it")


def test_unknown_az_in_a_subnet():
    expect(edit("blue-b: {cidr: 10.0.2.0/24, az: use1-az2}", "blue-b: {cidr: 10.0.2.0/24, az: use1-az3}"), "blue-b:",
           "vpcs.blue.subnets.blue-b.az", "'use1-az3' is not an AZ of the fabric; did you mean 'use1-az2'? "
                                          "use one of: use1-az1, use1-az2")


def test_subnet_full():
    instances = "".join(f"      i{n}: {{subnet: s}}\n" for n in range(12))
    text = edit("10.0.1.0/24", "10.0.1.0/28", MINIMAL).replace("      a: {subnet: s}\n", instances)
    text = text.replace("r1: {hosts: 2}", "r1: {hosts: 8}")
    expect(text, "i11:", "vpcs.v.instances.i11",
           "subnet s (10.0.1.0/28) has no free address left for i11; use a larger subnet or another one")
    assert loads(text.replace("      i11: {subnet: s}\n", "")).instance("i10").ip == "10.0.1.14"


# --- references ----------------------------------------------------------------------------------

def test_unknown_subnet():
    expect(edit("{subnet: blue-b, type", "{subnet: blue-c, type"), "web-2:", "vpcs.blue.instances.web-2.subnet",
           "'blue-c' is not a subnet of vpc blue; did you mean 'blue-b'? use one of: blue-a, blue-b")


def test_unknown_placement_group():
    expect(edit("placement_group: spread-1", "placement_group: spread-2"), "web-2:",
           "vpcs.blue.instances.web-2.placement_group",
           "'spread-2' is not a placement group of vpc blue; did you mean 'spread-1'? use one of: spread-1")
    expect(edit("green-1: {subnet: green-a}", "green-1: {subnet: green-a, placement_group: g}"), "green-1:",
           "vpcs.green.instances.green-1.placement_group",
           "'g' is not a placement group of vpc green; define it first (there are none yet)")


def test_unknown_pinned_host():
    expect(edit("host: r1-h2", "host: r1-h9"), "db-1:", "vpcs.blue.instances.db-1.host",
           "'r1-h9' is not a physical host of the fabric; did you mean 'r1-h2'? use one of: r1-h1, r1-h2, r2-h1, "
           "r2-h2, r3-h1, r3-h2")


def test_pinned_host_in_another_az():
    expect(edit("host: r1-h2", "host: r3-h1"), "db-1:", "vpcs.blue.instances.db-1.host",
           "host r3-h1 is in use1-az2, but subnet blue-a is in use1-az1; pin it to a host in use1-az1 "
           "or use a subnet in use1-az2")


def test_unknown_account():
    expect(edit("account: bob", "account: carol"), "account: carol", "vpcs.red.account",
           "'carol' is not an account of this file; use one of: alice, bob")


def test_accounts_list_rules():
    expect(edit("accounts: [alice, bob]", "accounts: [alice, alice]"), "accounts:", "accounts[1]",
           "account 'alice' is listed twice; list each account once")
    expect(edit("accounts: [alice, bob]", "accounts: []"), "accounts:", "accounts",
           "the list is empty; name at least one account, or leave accounts out for one default account")


# --- instances -----------------------------------------------------------------------------------

def test_ip_that_is_not_an_address():
    expect(edit("ip: 10.0.1.10, type", "ip: 10.0.1.300, type"), "web-1:", "vpcs.blue.instances.web-1.ip",
           "'10.0.1.300' is not an IPv4 address; write it like 10.0.1.4")


def test_ip_outside_its_subnet():
    expect(edit("ip: 10.0.1.10, type", "ip: 10.0.2.10, type"), "web-1:", "vpcs.blue.instances.web-1.ip",
           "10.0.2.10 is outside subnet blue-a (10.0.1.0/24); pick one from 10.0.1.4 to 10.0.1.254")


@pytest.mark.parametrize("ip, role", [
    ("10.0.1.0", "network address"), ("10.0.1.1", "VPC router"), ("10.0.1.2", "DNS server"),
    ("10.0.1.3", "address reserved for future use"), ("10.0.1.255", "broadcast address")])
def test_ip_on_a_reserved_address(ip, role):
    expect(edit("ip: 10.0.1.10, type", f"ip: {ip}, type"), "web-1:", "vpcs.blue.instances.web-1.ip",
           f"{ip} is reserved by AWS in subnet blue-a: it is the {role}; pick one from 10.0.1.4 to 10.0.1.254")


def test_duplicate_ip_in_a_vpc():
    text = edit("db-1:  {subnet: blue-a,", "db-1:  {subnet: blue-a, ip: 10.0.1.10,")
    expect(text, "db-1:", "vpcs.blue.instances.db-1.ip", f"10.0.1.10 is already the address of web-1 (line "
           f"{line_of(text, 'web-1:')}); pick another, or leave ip out to get a free one")


@pytest.mark.parametrize("old, new, snippet, key, message", [
    ("mode: proactive", "mode: eager", "mode:", "mode", "'eager' is not a mode; use one of: proactive, reactive"),
    ("encapsulation: geneve", "encapsulation: gre", "encapsulation:", "encapsulation",
     "'gre' is not an encapsulation; use one of: geneve, vxlan"),
    ("mtu: 9001", "mtu: 1279", "mtu:", "mtu", "1279 is out of range; use a whole number from 1280 to 9001"),
    ("mtu: 9001", "mtu: 9216", "mtu:", "mtu", "9216 is out of range; use a whole number from 1280 to 9001"),
    ("spines: 1", "spines: 0", "spines:", "fabric.spines", "0 is out of range; use a whole number from 1 to 9999"),
    ("spines: 1", "spines: 10000", "spines:", "fabric.spines",
     "10000 is out of range; use a whole number from 1 to 9999"),
    ("tenancy: dedicated", "tenancy: host", "db-1:", "vpcs.blue.instances.db-1.tenancy",
     "'host' is not a tenancy; use one of: default, dedicated"),
    ("{strategy: spread}", "{strategy: spred}", "spread-1:", "vpcs.blue.placement_groups.spread-1.strategy",
     "'spred' is not a placement strategy; did you mean 'spread'? use one of: cluster, spread, partition"),
    ("type: m5.large", "type: m5.lrge", "web-2:", "vpcs.blue.instances.web-2.type",
     "'m5.lrge' is not a known instance type; did you mean 'm5.large'? use one of: t2.micro, t2.small, "
     "t2.medium, t2.large, t2.xlarge, t2.2xlarge, t3.nano, t3.micro, t3.small, t3.medium, t3.large, t3.xlarge, "
     "... (33 in all)"),
])
def test_bad_values(old, new, snippet, key, message):
    expect(edit(old, new), snippet, key, message)


def test_partition_rules():
    expect(edit("{strategy: spread}", "{strategy: spread, partitions: 3}"), "spread-1:",
           "vpcs.blue.placement_groups.spread-1.partitions",
           "partitions applies only to strategy: partition; remove it")
    expect(edit("{strategy: spread}", "{strategy: partition, partitions: 8}"), "spread-1:",
           "vpcs.blue.placement_groups.spread-1.partitions", "8 is out of range; use a whole number from 1 to 7")
    expect(edit("placement_group: spread-1", "placement_group: spread-1, partition: 1"), "web-2:",
           "vpcs.blue.instances.web-2.partition", "partition applies only to members of a partition placement "
           "group; remove it, or set placement_group to a group with strategy: partition")
    expect(edit("placement_group: spread-1", "placement_group: spread-1, partition: 3",
                edit("{strategy: spread}", "{strategy: partition}")), "web-2:",
           "vpcs.blue.instances.web-2.partition", "3 is out of range; use a whole number from 1 to 2")


# --- VNIs and peering ----------------------------------------------------------------------------

def test_vni_range_and_uniqueness():
    expect(edit("    account: bob\n", "    account: bob\n    vni: 16777216\n"), "vni:", "vpcs.red.vni",
           "16777216 is out of range; use a whole number from 1 to 16777215")
    text = edit("    account: bob\n", "    account: bob\n    vni: 100\n")
    expect(text, "vni:", "vpcs.red.vni", "VNI 100 is already the VNI of vpc blue; VNIs are unique, pick another")
    text = edit("    account: alice\n", "    account: alice\n    vni: 102\n")  # green's automatic VNI
    expect(text, "vni:", "vpcs.blue.vni", "VNI 102 is also the automatic VNI of vpc green (100 + its position); "
                                          "pick another, or give green a vni too")


def test_peering_of_unknown_vpcs():
    expect(edit("vpcs: [blue, green]", "vpcs: [blue, gren]"), "vpcs: [blue", "peering[0].vpcs[1]",
           "'gren' is not a VPC of this file; did you mean 'green'? use one of: blue, red, green")


def test_peering_with_itself():
    expect(edit("vpcs: [blue, green]", "vpcs: [blue, blue]"), "vpcs: [blue", "peering[0].vpcs[1]",
           "vpc blue cannot be peered with itself; name two different VPCs")


def test_peering_needs_two_vpcs():
    expect(edit("vpcs: [blue, green]", "vpcs: [blue]"), "vpcs: [blue", "peering[0].vpcs",
           "a peering joins exactly two VPCs, not 1; write it like vpcs: [blue, green]")


def test_duplicate_peering():
    text = EXAMPLE + "  - {name: again, vpcs: [green, blue]}\n"
    expect(text, "name: again", "peering[1].vpcs",
           f"vpcs green and blue are already peered on line {line_of(text, 'blue-green')}; peer them once")
    text = EXAMPLE + "  - {name: blue-green, vpcs: [red, green]}\n"
    expect(text, "vpcs: [red", "peering[1].name",
           f"peering name 'blue-green' is already used on line {line_of(text, 'blue-green')}; rename one")


def test_peering_name_defaults_to_its_vpcs():
    t = loads(edit("{name: blue-green, vpcs: [blue, green]}", "{vpcs: [green, blue]}"))
    assert t.peerings[0].name == "green-blue" and t.peerings[0].vpcs == ("green", "blue")


def test_peering_of_overlapping_cidrs():
    expect(edit("vpcs: [blue, green]", "vpcs: [blue, red]"), "vpcs: [blue", "peering[0].vpcs",
           "the CIDRs of blue (10.0.0.0/16) and red (10.0.0.0/16) overlap, and AWS peers only VPCs whose CIDR "
           "blocks do not; change one CIDR or drop this peering")


# --- fuzzing: only TopologyError may escape -------------------------------------------------------

WORDS = ["format", "name", "fabric", "azs", "racks", "hosts", "vcpus", "vpcs", "cidr", "subnets", "az",
         "instances", "subnet", "ip", "type", "tenancy", "host", "placement_groups", "strategy", "partition",
         "partitions", "peering", "accounts", "account", "vni", "use1-az1", "r1", "r1-h1", "blue", "blue-a",
         "10.0.1.0/24", "10.0.1.7", "t3.micro", "dedicated", "spread", "cluster", "security_groups", "<<", ""]


def random_value(rng, depth=0):
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return rng.randint(-3, 70000)
    if kind == 1:
        return rng.choice(WORDS)
    if kind == 2:
        return rng.choice([None, True, 1.5, 2 ** 70, "", "~"])
    if kind == 3:
        return "".join(rng.choice("ab-/.:09 \t'\"") for _ in range(rng.randrange(6)))
    if kind in (4, 5):
        return rng.choice(WORDS[:25])
    if kind == 6:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(WORDS): random_value(rng, depth + 1) for _ in range(rng.randrange(5))}


def mutations(rng, example=EXAMPLE):
    """Random documents, the example with a random subtree replaced, and the example with its text garbled."""
    yield yaml.safe_dump(random_value(rng))
    doc = yaml.safe_load(example)
    node = doc
    for _ in range(rng.randrange(1, 6)):
        if not isinstance(node, (dict, list)) or not node:
            break
        key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        if rng.random() < 0.3 or not isinstance(node[key], (dict, list)):
            node[key] = random_value(rng, 2)
            break
        node = node[key]
    yield yaml.safe_dump(doc, sort_keys=False)
    chars = list(example)
    for _ in range(rng.randrange(1, 6)):
        chars.insert(rng.randrange(len(chars)), rng.choice(":-[]{},\n #&*!|>'\"%@`\t0123456789abhx\x00"))
        del chars[rng.randrange(len(chars))]
    yield "".join(chars)


def fuzz(seed, rounds, example=EXAMPLE):
    """How many mutations of example loaded and were refused; fails if anything but a TopologyError escapes."""
    rng = random.Random(seed)
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(rounds):
        for text in mutations(rng, example):
            try:
                loads(text, FILE)
                outcomes["loaded"] += 1
            except TopologyError as e:
                assert "\n" not in str(e) and str(e).startswith(FILE)
                outcomes["refused"] += 1
    return outcomes


def test_fuzz_only_topology_errors_escape():
    outcomes = fuzz(20240601, 250)
    assert outcomes["loaded"] > 5 and outcomes["refused"] > 500
