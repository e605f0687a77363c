"""Integration tests: real Mininet, real Open vSwitch, the real controller, real packets.

They need root (`sudo make test`).  After every test module the machine must be as
clean as before: no bridge, interface, Mininet node or controller process of ours.
"""
import os
import subprocess

import pytest

from testbed.fabric.names import DEFAULT_PREFIX
from testbed.fabric.runstate import STATE_DIR

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def topology(name):
    return os.path.join(ROOT, 'topologies', name)


# what our processes' command lines contain: Mininet nodes, the controller, and the two processes
# every lab with an edge or VPC services starts inside its nodes (which `vpclab down` must stop too)
OURS = ('mininet:', 'controllers.launcher', '-m testbed.appliances.edge_process', '-m testbed.services.host_services')


def leftovers():
    bridges = [b for b in subprocess.run(['ovs-vsctl', '--timeout=5', 'list-br'],
                                         capture_output=True, text=True).stdout.split()
               if b.startswith(DEFAULT_PREFIX)]
    links = [i for i in os.listdir('/sys/class/net') if i.startswith(DEFAULT_PREFIX)]
    procs = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                line = f.read().replace(b'\0', b' ').decode(errors='replace')
        except OSError:
            continue
        if any(mark in line for mark in OURS):
            procs.append(f'{pid} {line[:60]}')
    states = os.listdir(STATE_DIR) if os.path.isdir(STATE_DIR) else []
    return dict(bridges=bridges, interfaces=links, processes=procs, run_states=states)


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason='integration tests need root: sudo make test')
        for item in items:
            if 'integration' in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture(scope='module', autouse=True)
def machine_left_clean():
    before = leftovers()
    assert not any(before.values()), f'the machine is not clean before the tests: {before}'
    yield
    after = leftovers()
    assert not any(after.values()), f'left behind: {after}'
