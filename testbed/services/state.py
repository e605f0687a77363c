"""What the VPC services know: one record per ENI, the private zones and the internet's names.

Made from the topology model (`ServiceState.from_topology`), carried to the per-host service
process as JSON (`to_json` / `from_json`), and changed there by update messages (`apply`), one
JSON object each, that the lab sends after a change; see docs/services.md ("The state protocol").
Every process holds the whole state (a few hundred bytes an ENI), so a migration changes nothing
the instances can see: same IP, same MAC, same subnet and AZ (the lab refuses to move an instance
out of its AZ); the `migrated` update only records the new host.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from .addresses import MAX_IDENT, check_no_collision

FORMAT = 1


class StateError(ValueError):
    """A state file or update message that cannot be applied; the message says why."""


@dataclass(frozen=True)
class EniFacts:
    ident: int                 # the ENI's pipeline number: its service address is eni_address(ident)
    instance: str
    instance_id: str
    eni: str
    account: str
    vpc: str
    vpc_id: str
    vpc_cidr: str
    subnet: str
    subnet_id: str
    subnet_cidr: str
    az: str
    host: str
    ip: str
    mac: str
    instance_type: str
    security_groups: tuple = ()        # names, in the instance's order
    security_group_ids: tuple = ()
    public_ip: str | None = None       # its elastic IP's address, if one is associated
    http_tokens: str = "optional"
    hop_limit: int = 1


@dataclass(frozen=True)
class ZoneRecord:
    fqdn: str                          # lower case, no trailing dot
    ip: str
    instance: str | None = None        # answers with this instance's current address, if given


@dataclass(frozen=True)
class Zone:
    name: str
    vpcs: tuple
    records: tuple = ()                # ZoneRecords


def file_order_idents(topology) -> dict[str, int]:
    """Instance name -> ident as the mapping service numbers them: 1, 2, ... in file order. The
    wiring should pass the idents the controller really uses (its mappings) when it can."""
    return {inst.name: n for n, inst in enumerate(topology.instances(), start=1)}


class ServiceState:
    def __init__(self, region: str, enis=(), zones=(), internet=None):
        self.region = region
        self.enis: dict[int, EniFacts] = {}
        self.zones: tuple = tuple(zones)
        self.internet: dict[str, str] = {k.lower().rstrip("."): v for k, v in (internet or {}).items()}
        self.generation = 0            # bumped by every change: readers rebuild what they derived
        for facts in enis:
            self._put(facts)

    @classmethod
    def from_topology(cls, topology, idents=None) -> ServiceState:
        idents = file_order_idents(topology) if idents is None else idents
        check_no_collision(vpc.cidr for vpc in topology.vpcs.values())
        enis = []
        for vpc in topology.vpcs.values():
            for inst in vpc.instances.values():
                subnet = vpc.subnets[inst.subnet]
                eip = vpc.elastic_ip_of(inst.name)
                groups = [vpc.security_groups[g] for g in inst.security_groups if g in vpc.security_groups]
                enis.append(EniFacts(
                    ident=idents[inst.name], instance=inst.name, instance_id=inst.id, eni=inst.eni,
                    account=inst.account, vpc=vpc.name, vpc_id=vpc.id, vpc_cidr=vpc.cidr, subnet=subnet.name,
                    subnet_id=subnet.id, subnet_cidr=subnet.cidr, az=subnet.az, host=inst.host, ip=inst.ip,
                    mac=inst.mac, instance_type=inst.type, security_groups=tuple(inst.security_groups),
                    security_group_ids=tuple(g.id for g in groups), public_ip=eip.address if eip else None,
                    http_tokens=inst.metadata.http_tokens, hop_limit=inst.metadata.hop_limit))
        zones = [Zone(z.name.lower(), tuple(z.vpcs),
                      tuple(ZoneRecord(r.fqdn.lower().rstrip("."), r.ip, r.instance) for r in z.records.values()))
                 for z in topology.dns.private_zones.values()]
        internet = {h.dns_name: h.ip for h in topology.outside.internet.values() if h.dns_name}
        return cls(topology.region, enis, zones, internet)

    # ---- reading -------------------------------------------------------------------------------
    def eni(self, ident: int | None) -> EniFacts | None:
        return self.enis.get(ident)

    def by_instance(self, name: str) -> EniFacts:
        for facts in self.enis.values():
            if facts.instance == name:
                return facts
        raise StateError(f"no instance named {name!r}")

    # ---- the JSON form -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dict(format=FORMAT, region=self.region,
                    enis=[dataclasses.asdict(f) for f in self.enis.values()],
                    zones=[dict(name=z.name, vpcs=list(z.vpcs), records=[dataclasses.asdict(r) for r in z.records])
                           for z in self.zones],
                    internet=dict(self.internet))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> ServiceState:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise StateError(f"not a services state of format {FORMAT}")
        try:
            enis = [_facts(e) for e in data["enis"]]
            zones = [Zone(z["name"], tuple(z["vpcs"]), tuple(ZoneRecord(**r) for r in z["records"]))
                     for z in data.get("zones", ())]
            return cls(data["region"], enis, zones, data.get("internet", {}))
        except (KeyError, TypeError) as e:
            raise StateError(f"a services state without {e}") from None

    @classmethod
    def from_json(cls, text: str) -> ServiceState:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise StateError(f"not JSON: {e}") from None

    # ---- changes (docs/services.md, "The state protocol") --------------------------------------
    def apply(self, message: dict) -> str:
        """Apply one update message; returns what changed, in words (StateError if it cannot)."""
        op = message.get("op") if isinstance(message, dict) else None
        handler = _UPDATES.get(op)
        if handler is None:
            raise StateError(f"unknown update {op!r}; one of {', '.join(_UPDATES)}")
        try:
            said = handler(self, message)
        except KeyError as e:
            raise StateError(f"update {op!r} needs {e}") from None
        self.generation += 1
        return said

    def _put(self, facts: EniFacts) -> None:
        if not isinstance(facts.ident, int) or not 1 <= facts.ident <= MAX_IDENT:
            raise StateError(f"ENI ident {facts.ident} is not in 1..{MAX_IDENT}")
        self.enis[facts.ident] = facts

    def _change(self, name: str, **fields) -> EniFacts:
        facts = dataclasses.replace(self.by_instance(name), **fields)
        self.enis[facts.ident] = facts
        return facts

    def _replace(self, message):
        new = ServiceState.from_dict(message["state"])
        self.region, self.enis, self.zones, self.internet = new.region, new.enis, new.zones, new.internet
        return f"state replaced: {len(self.enis)} ENIs"

    def _upsert(self, message):
        facts = _facts(message["eni"])
        self._put(facts)
        return f"ENI {facts.eni} of {facts.instance} is ident {facts.ident}"

    def _terminated(self, message):
        del self.enis[self.by_instance(message["instance"]).ident]
        return f"{message['instance']} terminated"

    def _migrated(self, message):
        self._change(message["instance"], host=str(message["host"]))
        return f"{message['instance']} runs on {message['host']}"

    def _security_groups(self, message):
        self._change(message["instance"], security_groups=tuple(message["groups"]),
                     security_group_ids=tuple(message.get("group_ids", ())))
        return f"{message['instance']} is in {', '.join(message['groups']) or 'no group'}"

    def _elastic_ip(self, message):
        self._change(message["instance"], public_ip=message.get("address"))
        return f"{message['instance']} has public address {message.get('address')}"


_UPDATES = {"state": ServiceState._replace, "eni": ServiceState._upsert, "terminated": ServiceState._terminated,
            "migrated": ServiceState._migrated, "security_groups": ServiceState._security_groups,
            "elastic_ip": ServiceState._elastic_ip}


def _facts(data: dict) -> EniFacts:
    if not isinstance(data, dict):
        raise StateError("an ENI record must be a JSON object")
    fields = {f.name for f in dataclasses.fields(EniFacts)}
    unknown = set(data) - fields
    if unknown:
        raise StateError(f"unknown ENI fields {sorted(unknown)}")
    data = dict(data, security_groups=tuple(data.get("security_groups", ())),
                security_group_ids=tuple(data.get("security_group_ids", ())))
    try:
        return EniFacts(**data)
    except TypeError as e:             # a field left out
        raise StateError(f"an ENI record: {e}") from None
