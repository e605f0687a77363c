"""The narrow interface between the hosts' virtual routers (the router app) and the mapping service.

The apps share a process, but talk only through these events, as if over the network.
"""
from controllers.compat import event


class EventHostUp(event.EventBase):
    """A host's switch connected and has its base pipeline: fill its cache."""

    def __init__(self, host):
        super().__init__()
        self.host = host


class EventCachePush(event.EventBase):
    """Mapping service -> one host's virtual router: entries to add/replace/drop (a Plan)."""

    def __init__(self, host, plan, change=None):
        super().__init__()
        self.host = host
        self.plan = plan
        self.change = change


class EventCacheAck(event.EventBase):
    """Router app -> mapping service: the push `change` is in the switch."""

    def __init__(self, host, change):
        super().__init__()
        self.host = host
        self.change = change


class EventAlert(event.EventBase):
    """Router app -> mapping service: a packet that must not exist was seen."""

    def __init__(self, host, reason, source, detail):
        super().__init__()
        self.host, self.reason, self.source, self.detail = host, reason, source, detail


class LookupRequest(event.EventRequestBase):
    """Router app -> mapping service: a cache miss (reactive mode) or a check."""

    def __init__(self, host, vni, ip, peered=True, target=None):
        super().__init__()
        self.dst = 'MappingService'
        self.host, self.vni, self.ip, self.peered = host, vni, ip, peered
        self.target = target       # the VPC the sender's route table chose (None: any peer)


class LookupReply(event.EventReplyBase):
    def __init__(self, dst, entry):
        super().__init__(dst)
        self.entry = entry


class EventHyperplaneFailed(event.EventBase):
    """Management API -> router app: these Hyperplane nodes have failed (only these; [] = all live)."""

    def __init__(self, names):
        super().__init__()
        self.names = list(names)
