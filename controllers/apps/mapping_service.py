"""The mapping service app: the authoritative table, and the pushes that keep every
host cache right (each host's virtual router holds one)."""
import logging

from controllers import config
from controllers.alerts import AlertLog
from controllers.compat import BaseApp, set_ev_cls
from controllers.events import (
    EventAlert,
    EventCacheAck,
    EventCachePush,
    EventHostUp,
    LookupReply,
    LookupRequest,
)
from controllers.mapping_table import MappingTable
from controllers.router.security_groups import SecurityGroupBook


class MappingService(BaseApp):
    _EVENTS = [EventCachePush]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cfg = config.load()
        self.logger.setLevel(logging.INFO)
        self.vpcs = {v['vni']: v for v in cfg['vpcs']}
        self.table = MappingTable({h['name']: h['underlay_ip'] for h in cfg['hosts']},
                                  cfg['peers'], cfg['mode'])
        self.alerts = AlertLog()
        self.up = set()           # hosts whose virtual router is connected
        # the groups' rules; their members are the table's entries
        self.groups = SecurityGroupBook({v['vni']: v['security_groups'] for v in cfg['vpcs']})
        for inst in cfg['instances']:          # every instance of the file launches
            self.table.register(**dict(inst, security_groups=tuple(inst['security_groups'])))

    @set_ev_cls(EventHostUp)
    def host_up(self, ev):
        self.up.add(ev.host)
        self._push({ev.host}, dict(action='fill', host=ev.host))

    @set_ev_cls(EventCacheAck)
    def cache_ack(self, ev):
        done = self.table.ack(ev.change, ev.host)
        if done and done['action'] != 'fill':
            self.logger.info('%s converged on %d hosts in %.1f ms', done['action'],
                             len(done['hosts']), done['seconds'] * 1e3)

    @set_ev_cls(LookupRequest)
    def lookup(self, req):
        entry = self.table.lookup(req.vni, req.ip, host=req.host, peered=req.peered, target=req.target)
        self.reply_to_request(req, LookupReply(req.src, entry))

    @set_ev_cls(EventAlert)
    def alert(self, ev):
        rec = self.alerts.raise_alert(ev.host, ev.reason, ev.source, ev.detail)
        if rec['count'] == 1:
            self.logger.warning('ALERT %s on %s: %s', ev.reason, ev.host, ev.detail)

    # ---- changes asked through the management API --------------------------------
    def migrate(self, instance, host):
        entry = self.table.migrate(instance, host)
        return self._push(self.up, dict(action='migrate', instance=instance, host=host,
                                        version=entry.version))

    def terminate(self, instance):
        entry = self.table.deregister(instance)
        return self._push(self.up, dict(action='terminate', instance=instance,
                                        version=entry.version))

    def set_security_group(self, vpc, group, inbound, outbound):
        """New rules for a group: every host with a member, or with an ENI whose rules name
        it (sg:), gets the ENIs' new matches; tracked connections are left alone."""
        vni = self.vpc_vni(vpc)
        self.groups.set_rules(vni, group, inbound, outbound)
        return self._push(self.up, dict(action='security-group', vpc=vpc, group=group))

    def security_group(self, vpc, group):
        try:
            return self.groups.groups[self.vpc_vni(vpc)][group]
        except KeyError:
            raise LookupError(f'vpc {vpc} has no security group {group!r}') from None

    def vpc_vni(self, vpc):
        vni = next((v for v, d in self.vpcs.items() if d['name'] == vpc), None)
        if vni is None:
            raise LookupError(f'no VPC named {vpc!r}')
        return vni

    def _push(self, hosts, what):
        """Send every host its plan; the change is done when all have confirmed."""
        with self.table.lock:
            plans = {h: self.table.plan(h) for h in sorted(hosts)}
            entries = self.table.entries()
            for h, plan in plans.items():
                plan.security_groups, plan.group_members = self.groups.changes_for(h, entries)
            changed = [h for h, p in plans.items() if p or what['action'] == 'fill']
            change = self.table.begin_change(dict(what, hosts=changed), changed)
        for h in changed:
            self.send_event_to_observers(EventCachePush(h, plans[h], change))
        return change
