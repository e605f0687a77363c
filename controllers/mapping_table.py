"""The mapping service's authoritative table, as pure logic (no OpenFlow, no threads).

(VNI, IP) -> the instance's physical host, MAC and ENI.  The table also knows which
host cache holds which version of which entry, so that after any change it can say
exactly what each cache must add, replace or drop (`plan`), and when every cache that
had to change has confirmed it (`ack`): that is the migration convergence time.
"""
import threading
import time
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Entry:
    vni: int
    ip: str
    host: str
    host_ip: str
    mac: str
    eni: str
    instance: str
    subnet: str
    gateway_ip: str
    port_name: str       # the hypervisor-side interface name of the instance's cable
    ident: int           # stable small number: the entry's flows carry it in their cookie;
    #                      also the ENI's conntrack zone
    version: int = 1
    security_groups: tuple = ()

    @property
    def key(self):
        return (self.vni, self.ip)

    def to_dict(self):
        return dict(self.__dict__)


@dataclass
class Plan:
    """What one host must change: cache entries (remote and local destinations),
    the instances it runs itself, and what their security groups allow."""
    upserts: list = field(default_factory=list)
    removals: list = field(default_factory=list)
    local_upserts: list = field(default_factory=list)
    local_removals: list = field(default_factory=list)
    security_groups: dict = field(default_factory=dict)    # local key -> firewall matches
    group_members: dict = field(default_factory=dict)      # (vni, group) named by local rules -> member /32s

    def __bool__(self):
        return bool(self.upserts or self.removals or self.local_upserts or self.local_removals
                    or self.security_groups or self.group_members)


class MappingError(ValueError):
    """A request the table cannot carry out (unknown instance or host)."""


class MappingTable:
    def __init__(self, hosts, peers, mode='proactive', clock=time.monotonic):
        self.hosts = dict(hosts)                       # host name -> underlay IP
        self.peers = {v: frozenset(p) for v, p in peers.items()}   # VNI -> peered VNIs
        self.mode = mode
        self.clock = clock
        self.lock = threading.RLock()
        self._entries = {}                             # (vni, ip) -> Entry
        self._by_instance = {}                         # instance name -> key
        self._pushed = {h: {} for h in self.hosts}     # host -> {key: version} in its cache
        self._pushed_local = {h: {} for h in self.hosts}
        self._subscribed = {h: set() for h in self.hosts}   # reactive: keys a host asked for
        self._pending = {}                             # change id -> (start, hosts left, what)
        self._next_change = 1
        self._next_ident = 0
        self.convergence = []                          # finished changes
        self.audit = []
        self.counters = dict(lookups=0, lookup_hits=0, lookup_misses=0, pushes=0,
                             invalidations=0, registrations=0, migrations=0,
                             deregistrations=0)

    # ---- the table -------------------------------------------------------------
    def register(self, **fields):
        """An instance launched: record where it runs."""
        with self.lock:
            self._check_host(fields['host'])
            self._next_ident += 1
            entry = Entry(host_ip=self.hosts[fields['host']], ident=self._next_ident, **fields)
            if entry.key in self._entries:
                raise MappingError(f'{entry.ip} is already registered in VNI {entry.vni}')
            if entry.instance in self._by_instance:
                raise MappingError(f'an instance named {entry.instance!r} is already registered')
            self._entries[entry.key] = entry
            self._by_instance[entry.instance] = entry.key
            self.counters['registrations'] += 1
            self._log('register', entry)
            return entry

    def migrate(self, instance, host):
        """The instance now runs on `host`: a new version of its entry."""
        with self.lock:
            self._check_host(host)
            old = self.entry_of(instance)
            if old.host == host:
                raise MappingError(f'{instance} already runs on {host}')
            entry = replace(old, host=host, host_ip=self.hosts[host], version=old.version + 1)
            self._entries[entry.key] = entry
            self.counters['migrations'] += 1
            self._log('migrate', entry, from_host=old.host)
            return entry

    def deregister(self, instance):
        """The instance terminated: its entry goes, and so must every cached copy."""
        with self.lock:
            entry = self.entry_of(instance)
            del self._by_instance[instance], self._entries[entry.key]
            self.counters['deregistrations'] += 1
            self._log('deregister', entry)
            return entry

    def entry_of(self, instance):
        with self.lock:
            try:
                return self._entries[self._by_instance[instance]]
            except KeyError:
                raise MappingError(f'no instance named {instance!r} is registered') from None

    def entries(self):
        with self.lock:
            return sorted(self._entries.values(), key=lambda e: (e.vni, e.ip))

    def lookup(self, vni, ip, host=None, peered=True, target=None):
        """Answer a host's question: IP in VPC `vni` (or, if `peered`, in a VPC peered
        with it).  Two peers of one VPC may share addresses: `target`, the VPC the sender's
        route table chose, must then be `vni` or one of its peers, and only it is asked.  A
        `host` that asks subscribes to the entry: its cache will hear of every change."""
        with self.lock:
            self.counters['lookups'] += 1
            if target is not None:
                vnis = (target,) if target == vni or (peered and target in self.peers.get(vni, ())) else ()
            else:
                vnis = (vni, *sorted(self.peers.get(vni, ()))) if peered else (vni,)
            for v in vnis:
                entry = self._entries.get((v, ip))
                if entry is not None:
                    self.counters['lookup_hits'] += 1
                    if host is not None:     # the reply is a push into its cache
                        self._subscribed[host].add(entry.key)
                        self._pushed[host][entry.key] = entry.version
                    return entry
            self.counters['lookup_misses'] += 1
            return None

    # ---- host caches ------------------------------------------------------------
    def reachable_vnis(self, host):
        """VPCs whose instances this host's instances may talk to."""
        local = {e.vni for e in self._entries.values() if e.host == host}
        return local.union(*(self.peers.get(v, ()) for v in local)) if local else set()

    def needed(self, host):
        """Keys that must be in `host`'s cache now."""
        if self.mode == 'proactive':
            vnis = self.reachable_vnis(host)
            return {k for k, e in self._entries.items() if e.vni in vnis}
        return {k for k in self._subscribed[host] if k in self._entries}

    def plan(self, host):
        """Diff between what `host` holds and what it must hold; recorded as pushed."""
        with self.lock:
            self._check_host(host)
            plan = Plan()
            held = dict(self._pushed[host])
            plan.upserts, plan.removals = self._diff(self._pushed[host], self.needed(host))
            # pushes and invalidations count host-cache entries; a host's own instances
            # are not a cache
            self.counters['pushes'] += len(plan.upserts)
            self.counters['invalidations'] += len(plan.removals) + sum(
                1 for e in plan.upserts if e.key in held)
            local = {k for k, e in self._entries.items() if e.host == host}
            plan.local_upserts, plan.local_removals = self._diff(self._pushed_local[host], local)
            return plan

    def _diff(self, pushed, needed):
        upserts = [self._entries[k] for k in sorted(needed)
                   if pushed.get(k) != self._entries[k].version]
        removals = sorted(k for k in pushed if k not in needed)
        for e in upserts:
            pushed[e.key] = e.version
        for k in removals:
            del pushed[k]
        return upserts, removals

    def cached(self, host):
        """What the table believes `host`'s cache holds: {key: version}."""
        with self.lock:
            return dict(self._pushed[host])

    # ---- convergence ------------------------------------------------------------
    def begin_change(self, what, hosts):
        """Hosts that must confirm a change; returns its id (None if nobody)."""
        with self.lock:
            if not hosts:
                return None
            change = self._next_change
            self._next_change += 1
            self._pending[change] = (self.clock(), set(hosts), what)
            return change

    def ack(self, change, host):
        """`host` confirmed the change (its switch answered a barrier)."""
        with self.lock:
            if change not in self._pending:
                return None
            start, left, what = self._pending[change]
            left.discard(host)
            if left:
                return None
            del self._pending[change]
            done = dict(what, change=change, seconds=self.clock() - start)
            self.convergence.append(done)
            return done

    def pending(self):
        with self.lock:
            return {c: sorted(left) for c, (_, left, _) in self._pending.items()}

    # ---- helpers -------------------------------------------------------------------
    def _check_host(self, host):
        if host not in self.hosts:
            raise MappingError(f'no physical host named {host!r}')

    def _log(self, action, entry, **extra):
        self.audit.append(dict(time=time.time(), action=action, instance=entry.instance,
                               vni=entry.vni, ip=entry.ip, host=entry.host,
                               version=entry.version, **extra))
