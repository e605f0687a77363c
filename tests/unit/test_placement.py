"""Placement of instances on physical hosts (testbed.topology.place): no root, no Mininet."""
import dataclasses
import random
import time
from types import MappingProxyType

import pytest
import yaml
from test_topology import EXAMPLE

from testbed.topology import Instance, TopologyError, loads, place, placement

FILE = "topologies/p.yaml"
# az1: racks r1, r2 with two hosts each; az2: rack r3 with two hosts. Hosts: 32 vCPUs, 128 GiB.
FABRIC = {"azs": {"az1": {"racks": {"r1": {"hosts": 2}, "r2": {"hosts": 2}}},
                  "az2": {"racks": {"r3": {"hosts": 2}}}}}


def topology(instances, groups=None, fabric=FABRIC, others=None):
    """YAML for VPC v (account a, subnets s1 in az1 and s2 in az2) and, if given, VPC w (account b, subnet t1
    in az1)."""
    vpcs = {"v": {"account": "a", "cidr": "10.0.0.0/16",
                  "subnets": {"s1": {"cidr": "10.0.1.0/24", "az": "az1"}, "s2": {"cidr": "10.0.2.0/24", "az": "az2"}},
                  "placement_groups": groups or {}, "instances": instances}}
    if others:
        vpcs["w"] = {"account": "b", "cidr": "10.1.0.0/16", "subnets": {"t1": {"cidr": "10.1.1.0/24", "az": "az1"}},
                     "instances": others}
    return yaml.safe_dump({"fabric": fabric, "accounts": ["a", "b"], "vpcs": vpcs}, sort_keys=False)


def hosts(text):
    return {i.name: i.host for i in loads(text, FILE).instances()}


def racks(text):
    t = loads(text, FILE)
    return {i.name: t.hosts[i.host].rack for i in t.instances()}


def fails(text, instance, message, vpc="v"):
    """Placement refuses text: the error names the instance's line and key path, and says what ran out."""
    line = next(n for n, l in enumerate(text.splitlines(), 1) if l.strip() == f"{instance}:")
    with pytest.raises(TopologyError) as info:
        loads(text, FILE)
    assert str(info.value) == f"{FILE}:{line}: vpcs.{vpc}.instances.{instance}: {message}"


def members(n, prefix="m", **spec):
    return {f"{prefix}{i}": {"subnet": "s1", **spec} for i in range(1, n + 1)}


def test_example_placement():
    assert place(loads(EXAMPLE)) == {"web-1": "r1-h1", "web-2": "r3-h1", "db-1": "r1-h2",
                                     "red-web-1": "r2-h1", "green-1": "r3-h2"}


def test_placement_is_deterministic_and_pure():
    t = loads(EXAMPLE)
    assert place(t) == place(t) == {i.name: i.host for i in t.instances()}
    assert loads(EXAMPLE) == t


def test_az_of_the_subnet_is_respected():
    placed = hosts(topology({**members(3, "x", subnet="s2"), **members(3)}))
    assert {placed[f"x{i}"] for i in (1, 2, 3)} <= {"r3-h1", "r3-h2"}
    assert all(placed[f"m{i}"].startswith(("r1-", "r2-")) for i in (1, 2, 3))


def test_least_loaded_host_first_then_fabric_order():
    assert list(hosts(topology(members(5))).values()) == ["r1-h1", "r1-h2", "r2-h1", "r2-h2", "r1-h1"]


def test_ties_go_to_the_host_with_most_free_vcpus():
    instances = {"big": {"subnet": "s1", "type": "m5.2xlarge"}, **members(4)}
    assert list(hosts(topology(instances)).values()) == ["r1-h1", "r1-h2", "r2-h1", "r2-h2", "r1-h2"]


def test_pinned_host_is_used_even_when_busier():
    instances = {**members(2, host="r2-h2"), "free": {"subnet": "s1"}}
    assert hosts(topology(instances)) == {"m1": "r2-h2", "m2": "r2-h2", "free": "r1-h1"}


def test_pinned_host_without_room():
    fabric = {"azs": {"az1": {"racks": {"r1": {"hosts": 1, "vcpus": 2}}}, "az2": {"racks": {"r3": {"hosts": 1}}}}}
    fails(topology(members(2, host="r1-h1"), fabric=fabric), "m2",
          "pinned host r1-h1 has no room for m2 (t3.micro needs 2 vCPUs and 1 GiB; the most free host, r1-h1, "
          "has 0 vCPUs and 127 GiB left); add hosts or racks, or choose a smaller instance type")


def test_capacity_exhausted_in_an_az():
    text = topology(members(3, subnet="s2", type="m5.8xlarge"))
    assert list(hosts(topology(members(2, subnet="s2", type="m5.8xlarge"))).values()) == ["r3-h1", "r3-h2"]
    fails(text, "m3", "AZ az2 has no room for m3 (m5.8xlarge needs 32 vCPUs and 128 GiB; the most free host, "
                      "r3-h1, has 0 vCPUs and 0 GiB left); add hosts or racks, or choose a smaller instance type")


def test_memory_runs_out_too():
    fabric = {"azs": {"az1": {"racks": {"r1": {"hosts": 1, "memory_gib": 64}}}}}
    text = topology({"m": {"subnet": "s1", "type": "r5.4xlarge"}}, fabric=fabric).replace("az: az2", "az: az1")
    fails(text, "m", "AZ az1 has no room for m (r5.4xlarge needs 16 vCPUs and 128 GiB; the most free host, "
                     "r1-h1, has 32 vCPUs and 64 GiB left); add hosts or racks, or choose a smaller instance type")


# --- tenancy -------------------------------------------------------------------------------------

ONE_HOST = {"azs": {"az1": {"racks": {"r1": {"hosts": 1}}}, "az2": {"racks": {"r3": {"hosts": 1}}}}}
TWO_HOSTS = {"azs": {"az1": {"racks": {"r1": {"hosts": 2}}}, "az2": {"racks": {"r3": {"hosts": 1}}}}}


# big takes r1-h1 (28 vCPUs left), ded takes r1-h2 (30 left): by load alone, the next instance picks r1-h2.
DEDICATED = {"big": {"subnet": "s1", "type": "m5.xlarge"}, "ded": {"subnet": "s1", "tenancy": "dedicated"}}


def test_same_account_may_join_a_dedicated_host():
    assert hosts(topology({**DEDICATED, "same": {"subnet": "s1"}}, fabric=TWO_HOSTS))["same"] == "r1-h2"


def test_other_accounts_avoid_dedicated_hosts():
    assert hosts(topology(DEDICATED, fabric=TWO_HOSTS, others={"other": {"subnet": "t1"}}))["other"] == "r1-h1"


def test_dedicated_instance_avoids_hosts_of_other_accounts():
    # b1 leaves r1-h2 with fewer free vCPUs than r1-h1, so only tenancy sends b2 there.
    text = topology({"big": {"subnet": "s1", "type": "m5.xlarge"}}, fabric=TWO_HOSTS,
                    others={"b1": {"subnet": "t1", "type": "m5.2xlarge"},
                            "b2": {"subnet": "t1", "tenancy": "dedicated"}})
    assert hosts(text) == {"big": "r1-h1", "b1": "r1-h2", "b2": "r1-h2"}


def test_dedicated_instance_without_a_host_of_its_own():
    text = topology({"a1": {"subnet": "s1"}}, fabric=ONE_HOST, others={"b1": {"subnet": "t1", "tenancy": "dedicated"}})
    fails(text, "b1", "AZ az1: tenancy keeps b1 off every candidate host (r1-h1 runs instances of account a, "
                      "and b1 has dedicated tenancy); add hosts or use tenancy: default", vpc="w")


def test_no_other_account_joins_a_dedicated_host():
    text = topology({"a1": {"subnet": "s1", "tenancy": "dedicated"}}, fabric=ONE_HOST, others={"b1": {"subnet": "t1"}})
    fails(text, "b1", "AZ az1: tenancy keeps b1 off every candidate host (r1-h1 holds a dedicated instance of "
                      "account a); add hosts", vpc="w")
    pinned = topology({"a1": {"subnet": "s1", "tenancy": "dedicated"}}, fabric=TWO_HOSTS,
                      others={"b1": {"subnet": "t1", "host": "r1-h1"}})
    fails(pinned, "b1", "pinned host r1-h1 holds a dedicated instance of account a; pin it to another host or "
                        "remove host:", vpc="w")


# --- placement groups ----------------------------------------------------------------------------

def test_cluster_keeps_members_on_one_rack():
    text = topology({"first": {"subnet": "s1"}, **members(3, placement_group="c")}, {"c": {"strategy": "cluster"}})
    assert hosts(text) == {"first": "r1-h1", "m1": "r1-h2", "m2": "r1-h1", "m3": "r1-h2"}


def test_cluster_rack_without_room():
    # m1 picks r1 (more free vCPUs); m3 would fit on r2, but the group stays on r1.
    fabric = {"azs": {"az1": {"racks": {"r1": {"hosts": 1, "vcpus": 4}, "r2": {"hosts": 1, "vcpus": 2}}}}}
    text = topology(members(3, placement_group="c"), {"c": {"strategy": "cluster"}}, fabric).replace("az2", "az1")
    fails(text, "m3", "cluster placement group c: rack r1 has no room for m3 (t3.micro needs 2 vCPUs and 1 GiB; "
                      "the most free host, r1-h1, has 0 vCPUs and 126 GiB left); add hosts or racks, or choose a "
                      "smaller instance type")


def test_cluster_members_in_another_az():
    text = topology({"m1": {"subnet": "s1", "placement_group": "c"}, "m2": {"subnet": "s2", "placement_group": "c"}},
                    {"c": {"strategy": "cluster"}})
    fails(text, "m2", "cluster placement group c keeps its members on rack r1 in az1, but subnet s2 is in az2; "
                      "use a subnet in az1 or leave the group")


def test_spread_puts_each_member_on_its_own_rack():
    text = topology({**members(2, placement_group="sp"), "x": {"subnet": "s2", "placement_group": "sp"}},
                    {"sp": {"strategy": "spread"}})
    assert racks(text) == {"m1": "r1", "m2": "r2", "x": "r3"}


def test_spread_with_more_members_than_racks():
    text = topology(members(3, placement_group="sp"), {"sp": {"strategy": "spread"}})
    fails(text, "m3", "spread placement group sp already has a member on each of the 2 racks of az1; "
                      "add a rack to az1 or leave the group")


def test_spread_member_pinned_to_a_used_rack():
    text = topology({"m1": {"subnet": "s1", "placement_group": "sp"},
                     "m2": {"subnet": "s1", "placement_group": "sp", "host": "r1-h2"}}, {"sp": {"strategy": "spread"}})
    fails(text, "m2", "rack r1 of host r1-h2 already holds m1, a member of spread placement group sp; "
                      "pin it to a host on another rack")


THREE_RACKS = {"azs": {"az1": {"racks": {"r1": {"hosts": 1}, "r2": {"hosts": 1}, "r4": {"hosts": 1}}},
                       "az2": {"racks": {"r3": {"hosts": 1}}}}}


def test_partitions_use_disjoint_racks():
    text = topology({**members(4, placement_group="p"),
                     "late": {"subnet": "s1", "placement_group": "p", "partition": 2}},
                    {"p": {"strategy": "partition", "partitions": 2}}, THREE_RACKS)
    t = loads(text)
    assert [i.partition for i in t.instances()] == [1, 2, 1, 2, 2]
    # Racks of az1 go to partitions in turn: partition 1 gets r1 and r4, partition 2 gets r2.
    assert racks(text) == {"m1": "r1", "m2": "r2", "m3": "r4", "m4": "r2", "late": "r2"}


def test_partition_default_count_is_two():
    t = loads(topology(members(3, placement_group="p"), {"p": {"strategy": "partition"}}))
    assert t.vpcs["v"].placement_groups["p"].partitions == 2
    assert [i.partition for i in t.instances()] == [1, 2, 1]


def test_partition_group_with_fewer_racks_than_partitions():
    text = topology(members(1, placement_group="p"), {"p": {"strategy": "partition", "partitions": 3}})
    fails(text, "m1", "partition placement group p has 3 partitions but az1 has only 2 racks; give each partition "
                      "a rack of its own: add racks or lower partitions")


def test_partition_member_pinned_outside_its_partition():
    text = topology({"m1": {"subnet": "s1", "placement_group": "p", "partition": 1, "host": "r2-h1"}},
                    {"p": {"strategy": "partition"}})
    fails(text, "m1", "host r2-h1 is on rack r2, outside partition 1 of placement group p (racks r1); "
                      "pin it to a host on those racks")


def test_partition_without_room():
    fabric = {"azs": {"az1": {"racks": {"r1": {"hosts": 1, "vcpus": 2}, "r2": {"hosts": 1}}}}}
    text = topology(members(3, placement_group="p"), {"p": {"strategy": "partition"}}, fabric).replace("az2", "az1")
    fails(text, "m3", "partition 1 of placement group p (racks r1) has no room for m3 (t3.micro needs 2 vCPUs and "
                      "1 GiB; the most free host, r1-h1, has 0 vCPUs and 127 GiB left); add hosts or racks, or "
                      "choose a smaller instance type")


# --- the candidate index gives what checking every host gives, quickly --------------------------

def random_topology(rng):
    """A random fabric and VPC set with groups, pins, tenancies and sizes, loadable or not."""
    fabric = {"azs": {f"az{a}": {"racks": {f"r{a}{r}": {"hosts": rng.randint(1, 3), "vcpus": rng.choice([4, 8, 32])}
                                           for r in range(rng.randint(1, 4))}} for a in (1, 2)}}
    groups = {"c": {"strategy": "cluster"}, "s": {"strategy": "spread"},
              "p": {"strategy": "partition", "partitions": 2}}
    hosts = [f"r{a}{r}-h{h}" for a in (1, 2) for r, spec in enumerate(fabric["azs"][f"az{a}"]["racks"].values())
             for h in range(1, spec["hosts"] + 1)]
    instances = {}
    for i in range(rng.randint(1, 25)):
        spec = {"subnet": rng.choice(["s1", "s2"]), "type": rng.choice(["t3.micro", "m5.large", "m5.xlarge"])}
        if rng.random() < 0.3:
            spec["placement_group"] = rng.choice(list(groups))
        if rng.random() < 0.2:
            spec["tenancy"] = "dedicated"
        if rng.random() < 0.1:
            spec["host"] = rng.choice(hosts)
        instances[f"i{i}"] = spec
    others = {f"o{i}": {"subnet": "t1", **({"tenancy": "dedicated"} if rng.random() < 0.3 else {})}
              for i in range(rng.randint(0, 6))}
    fabric["azs"]["az1"]["racks"]["r10"] = {"hosts": 1}  # az1 always has a rack named like t1's host
    return topology(instances, groups, fabric, others)


def outcome(text):
    try:
        return {i.name: i.host for i in loads(text, FILE).instances()}
    except TopologyError as e:
        return str(e)


def test_the_index_places_as_checking_every_host_does(monkeypatch):
    rng = random.Random(7)
    texts = [random_topology(rng) for _ in range(150)]
    fast = [outcome(t) for t in texts]
    monkeypatch.setattr(placement._Placer, "best", lambda self, pool, eligible: None)  # every host checked
    assert fast == [outcome(t) for t in texts]
    assert sum(isinstance(o, dict) for o in fast) > 25 and sum(isinstance(o, str) for o in fast) > 25


def test_many_hosts_and_instances_place_in_near_linear_time():
    """1000 hosts x 20,000 instances: hosts x instances would be 2e7 candidate checks."""
    fabric = {"azs": {"az1": {"racks": {f"r{n}": {"hosts": 10, "vcpus": 64} for n in range(1, 101)}}}}
    vpc = {"cidr": "10.0.0.0/16", "subnets": {"s": {"cidr": "10.0.0.0/16", "az": "az1"}}}
    t = loads(yaml.safe_dump({"fabric": fabric, "vpcs": {"v": vpc}}), FILE)
    instances = tuple(Instance(f"i{n}", "", "", "v", "s", "", "", "t3.nano", "default", None, None, None, "",
                               "default") for n in range(20000))
    t = dataclasses.replace(t, vpcs=MappingProxyType({"v": dataclasses.replace(
        t.vpcs["v"], instances=MappingProxyType({i.name: i for i in instances}))}))
    start = time.monotonic()
    placed = place(t)
    assert time.monotonic() - start < 10
    assert len(set(placed.values())) == 1000 and placed["i0"] == "r1-h1" and placed["i1000"] == "r1-h1"
