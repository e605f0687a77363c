"""AlertLog: repeats within the window fold into one record."""
from controllers.alerts import AlertLog


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_repeats_within_window_fold_into_one_record():
    clock = Clock()
    log = AlertLog(window_s=10.0, clock=clock)
    first = log.raise_alert('h1', 'spoofed-source', '10.0.1.10', 'first detail')
    clock.t = 105.0
    log.raise_alert('h1', 'spoofed-source', '10.0.1.10', 'second detail')
    clock.t = 109.9
    rec = log.raise_alert('h1', 'spoofed-source', '10.0.1.10', 'third detail')
    assert rec is first
    assert log.list() == [dict(host='h1', reason='spoofed-source', source='10.0.1.10',
                               detail='first detail', count=3, first=100.0, last=109.9)]


def test_after_the_window_a_new_record():
    clock = Clock()
    log = AlertLog(window_s=10.0, clock=clock)
    log.raise_alert('h1', 'spoofed-source', 'x', 'd')
    clock.t = 110.0                      # exactly one window later: no longer "within"
    rec = log.raise_alert('h1', 'spoofed-source', 'x', 'd')
    assert rec['count'] == 1 and rec['first'] == 110.0
    assert [r['count'] for r in log.list()] == [1, 1]


def test_window_slides_with_each_repeat():
    clock = Clock()
    log = AlertLog(window_s=10.0, clock=clock)
    for t in (100.0, 108.0, 116.0, 124.0):   # each within 10 s of the previous one
        clock.t = t
        log.raise_alert('h1', 'unregistered-source', 'x', 'd')
    assert [(r['count'], r['first'], r['last']) for r in log.list()] == [(4, 100.0, 124.0)]


def test_different_host_reason_or_source_are_separate():
    log = AlertLog(window_s=10.0, clock=Clock())
    log.raise_alert('h1', 'spoofed-source', 'a', 'd')
    log.raise_alert('h2', 'spoofed-source', 'a', 'd')
    log.raise_alert('h1', 'unregistered-source', 'a', 'd')
    log.raise_alert('h1', 'spoofed-source', 'b', 'd')
    log.raise_alert('h1', 'spoofed-source', 'a', 'd')
    assert [r['count'] for r in log.list()] == [2, 1, 1, 1]


def test_list_returns_copies():
    log = AlertLog(window_s=10.0, clock=Clock())
    log.raise_alert('h1', 'spoofed-source', 'a', 'd')
    log.list()[0]['count'] = 99
    assert log.list()[0]['count'] == 1
