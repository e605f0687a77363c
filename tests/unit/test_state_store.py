"""The state store's two backends, run by the same test functions: membership with leases, and
port-block claims that no two nodes ever share (threads racing for them included)."""
import itertools
import threading
import time

import pytest

from testbed.state_store import EmbeddedStore, StoreError, open_store
from testbed.state_store import etcd_server as es
from testbed.state_store.remote import RemoteStore, StoreServer

_prefixes = itertools.count()


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture(scope='module')
def etcd():
    if not es.available():
        pytest.skip(es.MISSING)
    pytest.importorskip('etcd3gw', reason='the etcd client etcd3gw is not installed (setup.py installs it)')
    with es.EtcdServer() as server:
        yield server


@pytest.fixture(params=['embedded', 'embedded-remote', 'etcd'])
def world(request, tmp_path):
    """(store, advance(seconds)): the embedded store on a fake clock, in this process or served on a
    Unix socket to another's RemoteStore; etcd in real time."""
    if request.param.startswith('embedded'):
        clock = FakeClock()

        def advance(seconds):
            clock.now += seconds
        store = EmbeddedStore(clock=clock)
        if request.param == 'embedded':
            yield store, advance
            return
        server = StoreServer(store, str(tmp_path / 'store.sock'))
        remote = RemoteStore(server.path)
        yield remote, advance
        remote.close()
        server.stop()
        return
    server = request.getfixturevalue('etcd')
    store = open_store('etcd', endpoint=server.endpoint, prefix=f'test{next(_prefixes)}')
    yield store, time.sleep
    store.wipe()
    store.close()


def test_members_are_the_nodes_whose_lease_runs(world):
    store, advance = world
    store.join('hp1', ttl=60)
    store.join('hp2', ttl=60)
    assert store.members() == ['hp1', 'hp2']
    assert store.keepalive('hp1')
    store.leave('hp2')
    assert store.members() == ['hp1']
    assert not store.keepalive('hp2')


def test_a_node_that_misses_its_lease_is_gone_until_it_joins_again(world):
    store, advance = world
    store.join('hp1', ttl=1)
    store.join('hp2', ttl=60)
    advance(3.0)
    assert store.members() == ['hp2']
    assert not store.keepalive('hp1')
    store.join('hp1', ttl=60)
    assert store.members() == ['hp1', 'hp2']


def test_blocks_go_to_one_node_each_lowest_first(world):
    store, _ = world
    assert [store.claim_block('nat-a', n, count=3) for n in ('hp1', 'hp2', 'hp1')] == [0, 1, 2]
    assert store.claim_block('nat-a', 'hp2', count=3) is None          # all held
    assert store.claim_block('nat-b', 'hp2', count=3) == 0             # gateways are apart
    assert store.claim_block('nat-a', 'hp2', count=3, scope='tcp/198.51.100.10/80') == 0
    assert store.blocks('nat-a') == {0: 'hp1', 1: 'hp2', 2: 'hp1'}
    assert store.blocks_of('nat-a', 'hp1') == [0, 2]


def test_release_and_transfer_are_compare_and_swap_on_the_owner(world):
    store, _ = world
    store.claim_block('nat-a', 'hp1', count=4)
    assert not store.release_block('nat-a', 0, 'hp2')
    assert not store.transfer_block('nat-a', 0, 'hp2', 'hp3')
    assert store.transfer_block('nat-a', 0, 'hp1', 'hp2')
    assert not store.transfer_block('nat-a', 0, 'hp1', 'hp3')          # hp3 lost the race to hp2
    assert store.blocks('nat-a') == {0: 'hp2'}
    assert store.release_block('nat-a', 0, 'hp2')
    assert store.blocks('nat-a') == {}
    assert store.claim_block('nat-a', 'hp3', count=4) == 0


def test_racing_nodes_never_hold_the_same_block(world):
    store, _ = world
    won = {f'hp{i}': [] for i in range(4)}

    def claim(node):
        store = world[0] if not isinstance(world[0], RemoteStore) else RemoteStore(world[0].sock.getpeername())
        while (index := store.claim_block('nat-race', node, count=24)) is not None:
            won[node].append(index)
    threads = [threading.Thread(target=claim, args=(n,)) for n in won]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [i for indices in won.values() for i in indices]
    assert sorted(claimed) == list(range(24))                          # each block once
    assert store.blocks('nat-race') == {i: n for n, indices in won.items() for i in indices}


def test_an_unknown_backend_or_a_missing_etcd_is_one_clear_error():
    with pytest.raises(StoreError, match='the backends are: embedded, etcd'):
        open_store('zookeeper')
    pytest.importorskip('etcd3gw', reason='the etcd client etcd3gw is not installed (setup.py installs it)')
    with pytest.raises(StoreError, match='no etcd answers at 127.0.0.1:9'):
        open_store('etcd', endpoint='127.0.0.1:9', timeout=1)


def test_a_remote_store_with_no_server_or_a_failing_call_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match='no state store serves .*nothing.sock'):
        RemoteStore(str(tmp_path / 'nothing.sock'))
    server = StoreServer(EmbeddedStore(), str(tmp_path / 's.sock'))
    try:
        with RemoteStore(server.path) as remote:
            with pytest.raises(StoreError, match='TypeError'):
                remote._call('join', 'hp1')                   # ttl missing
            assert remote.members() == []                      # the connection goes on
    finally:
        server.stop()
