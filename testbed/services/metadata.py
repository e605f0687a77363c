"""Instance metadata at 169.254.169.254: IMDSv1 and IMDSv2, answered from the services state.

`Metadata.handle(eni, method, path, headers, now) -> (status, headers, body)` is pure apart from
its counters: `eni` is the asking ENI's facts (None: a source that is no ENI), `now` a clock in
seconds (the server passes time.monotonic()).
- `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds: 1..21600` returns a token
  (400 without a valid TTL; 403 if the request carries X-Forwarded-For, as AWS refuses proxied ones).
  Tokens are HMACs of (ENI ident, expiry) under the lab's key: bound to the ENI, kept nowhere, valid
  on every host that shares the key (so they survive a migration).
- a GET with `X-aws-ec2-metadata-token` needs a valid, unexpired token of this ENI, else 401; a GET
  without one is IMDSv1, refused with 401 when the instance has `http_tokens: required`.
- the token's hop limit: `ip_ttl` gives the IP TTL of the PUT response, the instance's `hop_limit`;
  the server sets it on the connection's socket (docs/services.md, "Instance metadata").
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from collections import Counter

from .addresses import private_hostname

TOKEN_PATH = "/latest/api/token"
TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "x-aws-ec2-metadata-token"
MAX_TOKEN_TTL = 21600
_TOKEN = struct.Struct("!HQ")        # ident, expiry in milliseconds of the server's clock
_MAC_BYTES = 16
TEXT = {"Content-Type": "text/plain"}


class Metadata:
    def __init__(self, state, key: bytes | None = None):
        self.state = state
        self.key = key or os.urandom(32)
        self.counters = Counter()

    # ---- tokens --------------------------------------------------------------------------------
    def token(self, ident: int, expires: float) -> str:
        body = _TOKEN.pack(ident, int(expires * 1000))
        mac = hmac.new(self.key, body, hashlib.sha256).digest()[:_MAC_BYTES]
        return base64.urlsafe_b64encode(body + mac).decode()

    def token_valid(self, token: str, ident: int, now: float) -> bool:
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            return False
        if len(raw) != _TOKEN.size + _MAC_BYTES:
            return False
        body, mac = raw[:_TOKEN.size], raw[_TOKEN.size:]
        if not hmac.compare_digest(mac, hmac.new(self.key, body, hashlib.sha256).digest()[:_MAC_BYTES]):
            return False
        owner, expires_ms = _TOKEN.unpack(body)
        return owner == ident and now * 1000 < expires_ms

    def ip_ttl(self, eni, method: str, path: str) -> int | None:
        """The IP TTL of the response's packets: the hop limit for a token's PUT, else the default."""
        token_put = method == "PUT" and path.split("?", 1)[0] == TOKEN_PATH
        return eni.hop_limit if eni is not None and token_put else None

    # ---- requests ------------------------------------------------------------------------------
    def handle(self, eni, method: str, path: str, headers, now: float):
        headers = {k.lower(): v for k, v in dict(headers).items()}
        self.counters["requests"] += 1
        if eni is None:
            return self._refuse("unknown_eni", 403)
        path = path.split("?", 1)[0]
        if method == "PUT":
            return self._put_token(eni, path, headers, now)
        if method not in ("GET", "HEAD"):
            return self._refuse("bad_method", 405, {"Allow": "GET, HEAD, PUT"})
        token = headers.get(TOKEN_HEADER)
        if token is not None:
            if not self.token_valid(token.strip(), eni.ident, now):
                return self._refuse("unauthorized", 401)
            self.counters["v2"] += 1
        elif eni.http_tokens == "required":
            return self._refuse("v1_refused", 401)
        else:
            self.counters["v1"] += 1
        body = lookup(self.tree(eni), path)
        if body is None:
            return self._refuse("not_found", 404)
        self.counters["answered"] += 1
        return 200, dict(TEXT), body.encode() if method == "GET" else b""

    def _put_token(self, eni, path, headers, now):
        if path != TOKEN_PATH:
            return self._refuse("bad_method", 405, {"Allow": "GET, HEAD"})
        if "x-forwarded-for" in headers:
            return self._refuse("forwarded", 403)
        text = str(headers.get(TTL_HEADER, "")).strip()
        if not text.isdigit() or not 1 <= int(text) <= MAX_TOKEN_TTL:
            return self._refuse("bad_request", 400)
        ttl = int(text)
        self.counters["tokens"] += 1
        return 200, dict(TEXT, **{"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)}), \
            self.token(eni.ident, now + ttl).encode()

    def _refuse(self, counter: str, status: int, extra=None):
        self.counters[counter] += 1
        return status, dict(TEXT, **(extra or {})), b""

    # ---- the tree ------------------------------------------------------------------------------
    def tree(self, eni) -> dict:
        """The ENI's metadata as nested dicts of strings (a dict is a directory)."""
        region = self.state.region
        name = private_hostname(eni.ip, region)
        interface = {
            "device-number": "0", "interface-id": eni.eni, "local-hostname": name, "local-ipv4s": eni.ip,
            "mac": eni.mac, "owner-id": eni.account, "security-group-ids": "\n".join(eni.security_group_ids),
            "security-groups": "\n".join(eni.security_groups), "subnet-id": eni.subnet_id,
            "subnet-ipv4-cidr-block": eni.subnet_cidr, "vpc-id": eni.vpc_id, "vpc-ipv4-cidr-block": eni.vpc_cidr}
        meta = {
            "hostname": name, "instance-id": eni.instance_id, "instance-type": eni.instance_type,
            "local-hostname": name, "local-ipv4": eni.ip, "mac": eni.mac,
            "network": {"interfaces": {"macs": {eni.mac: interface}}},
            "placement": {"availability-zone": eni.az, "region": region},
            "security-groups": "\n".join(eni.security_groups),
            "services": {"domain": "amazonaws.com", "partition": "aws"}}
        if eni.public_ip:
            meta["public-ipv4"] = interface["public-ipv4s"] = eni.public_ip
        return {"latest": {"meta-data": meta}}


def lookup(tree: dict, path: str) -> str | None:
    """A leaf's text, or a directory's listing (one entry a line, directories with a '/'); None: 404."""
    node = tree
    for part in (p for p in path.split("/") if p):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, dict):
        return "\n".join(f"{k}/" if isinstance(v, dict) else k for k, v in sorted(node.items()))
    return node
