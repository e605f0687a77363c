"""Instance metadata: IMDSv1 and v2, tokens, the paths, and the answers after a change."""
import os

import pytest

from testbed.services.metadata import MAX_TOKEN_TTL, TOKEN_PATH, Metadata, lookup
from testbed.services.state import ServiceState
from testbed.topology import load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TTL = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN = "X-aws-ec2-metadata-token"


@pytest.fixture()
def state():
    return ServiceState.from_topology(load(os.path.join(ROOT, "topologies", "edge.yaml")))


@pytest.fixture()
def md(state):
    return Metadata(state, key=b"k" * 32)


def get(md, eni, path, now=0.0, **headers):
    status, _, body = md.handle(eni, "GET", path, headers, now)
    return status, body.decode()


def token(md, eni, ttl="60", now=0.0):
    status, headers, body = md.handle(eni, "PUT", TOKEN_PATH, {TTL: ttl}, now)
    assert status == 200 and headers[TTL] == ttl
    return body.decode()


def test_v1_answers_where_tokens_are_optional(md, state):
    red = state.by_instance("red-web-1")
    assert get(md, red, "/latest/meta-data/instance-id") == (200, red.instance_id)
    assert get(md, red, "/latest/meta-data/local-ipv4") == (200, "10.0.1.10")
    assert md.counters["v1"] == 2


def test_v1_is_refused_where_tokens_are_required(md, state):
    web = state.by_instance("web-1")
    assert get(md, web, "/latest/meta-data/instance-id") == (401, "")
    assert get(md, web, "/latest/meta-data/instance-id", **{TOKEN: token(md, web)}) == (200, web.instance_id)
    assert md.counters["v1_refused"] == 1 and md.counters["v2"] == 1 and md.counters["tokens"] == 1


def test_tokens_expire_and_belong_to_one_eni(md, state):
    web, red = state.by_instance("web-1"), state.by_instance("red-web-1")
    t = token(md, web, ttl="10", now=100.0)
    assert get(md, web, "/latest/meta-data/mac", now=109.9, **{TOKEN: t}) == (200, web.mac)
    assert get(md, web, "/latest/meta-data/mac", now=110.0, **{TOKEN: t})[0] == 401        # expired
    assert get(md, red, "/latest/meta-data/mac", now=100.0, **{TOKEN: t})[0] == 401        # another ENI's
    for bad in ("", "garbage", "AAAA", t[:-4] + "AAAA", "é"):
        assert get(md, red, "/latest/meta-data/mac", **{TOKEN: bad})[0] == 401             # even when optional
    assert Metadata(state, key=b"x" * 32).token_valid(t, web.ident, 100.0) is False     # another lab's key
    assert Metadata(state, key=b"k" * 32).token_valid(t, web.ident, 100.0) is True      # another host, same key


@pytest.mark.parametrize("ttl", [None, "", "0", "21601", "-5", "1.5", "abc", " "])
def test_a_token_needs_a_ttl_in_range(md, state, ttl):
    headers = {} if ttl is None else {TTL: ttl}
    assert md.handle(state.by_instance("web-1"), "PUT", TOKEN_PATH, headers, 0.0)[0] == 400


def test_token_ttl_limits_and_the_put_rules(md, state):
    web = state.by_instance("web-1")
    token(md, web, ttl="1")
    token(md, web, ttl=str(MAX_TOKEN_TTL))
    assert md.handle(web, "PUT", TOKEN_PATH, {TTL: "60", "X-Forwarded-For": "10.9.9.9"}, 0.0)[0] == 403
    assert md.handle(web, "PUT", "/latest/meta-data/", {TTL: "60"}, 0.0)[0] == 405
    assert md.handle(web, "POST", "/latest/meta-data/", {}, 0.0)[0] == 405
    assert md.handle(None, "GET", "/latest/meta-data/", {}, 0.0)[0] == 403


def test_the_hop_limit_is_the_ttl_of_the_token_response(md, state):
    web = state.by_instance("web-1")
    assert md.ip_ttl(web, "PUT", TOKEN_PATH) == 1
    assert md.ip_ttl(web, "GET", "/latest/meta-data/") is None
    state.apply({"op": "eni", "eni": dict(state.to_dict()["enis"][0], hop_limit=2)})
    assert md.ip_ttl(state.by_instance("web-1"), "PUT", TOKEN_PATH) == 2


def test_the_paths(md, state):
    red = state.by_instance("red-web-1")
    status, listing = get(md, red, "/latest/meta-data/")
    assert status == 200
    assert {"instance-id", "local-ipv4", "mac", "placement/", "security-groups", "network/", "hostname",
            "local-hostname"} <= set(listing.split("\n"))
    assert "public-ipv4" not in listing.split("\n")
    assert get(md, red, "/latest/meta-data") == (200, listing)
    assert get(md, red, "/latest/meta-data/public-ipv4") == (404, "")
    assert get(md, red, "/latest/meta-data/placement/availability-zone") == (200, "use1-az1")
    assert get(md, red, "/latest/meta-data/security-groups") == (200, "default")
    assert get(md, red, "/latest/meta-data/local-hostname") == (200, "ip-10-0-1-10.ec2.internal")
    assert get(md, red, "/latest/meta-data/hostname") == (200, "ip-10-0-1-10.ec2.internal")
    base = f"/latest/meta-data/network/interfaces/macs/{red.mac}"
    assert get(md, red, "/latest/meta-data/network/interfaces/macs/") == (200, f"{red.mac}/")
    assert get(md, red, f"{base}/vpc-id") == (200, red.vpc_id)
    assert get(md, red, f"{base}/subnet-id") == (200, red.subnet_id)
    assert get(md, red, "/latest/meta-data/nothing")[0] == 404
    assert get(md, red, "/latest/meta-data/mac/more")[0] == 404
    assert get(md, red, "/") == (200, "latest/")
    web = state.by_instance("web-1")
    assert get(md, web, "/latest/meta-data/public-ipv4", **{TOKEN: token(md, web)}) == (200, web.public_ip)
    status, _, body = md.handle(red, "HEAD", "/latest/meta-data/mac", {}, 0.0)
    assert (status, body) == (200, b"")


def test_answers_follow_the_state(md, state):
    red = state.by_instance("red-web-1")
    state.apply({"op": "security_groups", "instance": "red-web-1", "groups": ["web", "admin"]})
    state.apply({"op": "elastic_ip", "instance": "red-web-1", "address": "203.0.113.77"})
    red = state.by_instance("red-web-1")
    assert get(md, red, "/latest/meta-data/security-groups") == (200, "web\nadmin")
    assert get(md, red, "/latest/meta-data/public-ipv4") == (200, "203.0.113.77")


def test_lookup():
    tree = {"a": {"b": "x", "c": {"d": "y"}}}
    assert lookup(tree, "/a/") == "b\nc/"
    assert lookup(tree, "a//c/d") == "y"
    assert lookup(tree, "/a/b/") == "x"
    assert lookup(tree, "/z") is None
