"""Alerts: what a human must look at (docs/journey.md, step 7: a human is alerted).

Repeats of the same alert within a window are folded into one record with a count,
so that an attack raises one line instead of a flood.  The log keeps at most `limit` records:
the oldest go first, and `dropped` counts them (an attacker with many sources cannot make the
controller grow without bound).
"""
import threading
import time
from collections import deque, namedtuple

MAX_RECORDS = 1000


class AlertLog:
    def __init__(self, window_s=10.0, clock=time.time, limit=MAX_RECORDS):
        self.window_s = window_s
        self.clock = clock
        self.lock = threading.Lock()
        self.records = deque()
        self.limit = limit
        self.dropped = 0         # records that left to make room
        self._last = {}          # (host, reason, source) -> record

    def raise_alert(self, host, reason, source, detail):
        now = self.clock()
        with self.lock:
            key = (host, reason, source)
            rec = self._last.get(key)
            if rec is not None and now - rec['last'] < self.window_s:
                rec['count'] += 1
                rec['last'] = now
                return rec
            rec = dict(host=host, reason=reason, source=source, detail=detail,
                       count=1, first=now, last=now)
            if len(self.records) >= self.limit:
                old = self.records.popleft()
                self.dropped += 1
                old_key = (old['host'], old['reason'], old['source'])
                if self._last.get(old_key) is old:
                    del self._last[old_key]
            self.records.append(rec)
            self._last[key] = rec
            return rec

    def list(self):
        with self.lock:
            return [dict(r) for r in self.records]


# What a stage decided must be looked at: the app raises it at the mapping service.
Alert = namedtuple('Alert', 'reason source detail')
