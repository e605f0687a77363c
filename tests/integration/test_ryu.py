"""The same apps under Ryu 4.34 instead of os-ken (controllers/compat.py is the one module that knows which).

Ryu does not install into our virtualenv (it needs eventlet 0.33.3 on Python 3.11), so
this runs only when VPCLAB_RYU_PYTHON names the python of a Ryu virtualenv, e.g.
    /usr/bin/python3 -m venv /tmp/ryu && /tmp/ryu/bin/pip install 'setuptools<70' wheel
    /tmp/ryu/bin/pip install --no-build-isolation ryu==4.34 eventlet==0.33.3 \\
        dnspython==2.3.0 pyyaml
    VPCLAB_RYU_PYTHON=/tmp/ryu/bin/python sudo -E make test
"""
import os

import pytest
from conftest import topology

from testbed.lab import Lab
from testbed.observe import journey

RYU = os.environ.get('VPCLAB_RYU_PYTHON')


@pytest.mark.skipif(not RYU, reason='VPCLAB_RYU_PYTHON is not set (see the docstring)')
def test_the_apps_run_under_ryu(monkeypatch):
    monkeypatch.setenv('VPCLAB_CONTROLLER_PYTHON', RYU)
    with Lab(topology('peering.yaml')) as lab:
        assert 'ryu' in open(f'/proc/{lab.controller.proc.pid}/cmdline').read()
        blue, green = lab.topology.instance('blue-1'), lab.topology.instance('green-1')
        assert journey.ping(lab.node(blue.name), green.ip, count=2)[0] == 2
        assert lab.api.metrics()['ofp_errors'] == []
