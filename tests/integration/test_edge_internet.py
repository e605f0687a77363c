"""The internet gateway and elastic IPs on Blackfoot, with real packets (topologies/gateways.yaml):
web-1 has an elastic IP in a public subnet, web-2 none, app-1 one but no route to igw."""
import pytest
from conftest import topology
from edge_helpers import curl, echo_server

from testbed.lab import Lab

WEB_EIP, APP_EIP = '203.0.113.1', '203.0.113.2'
INTERNET = '198.51.100.10'


@pytest.fixture(scope='module')
def lab():
    with Lab(topology('gateways.yaml')) as lab:
        yield lab


def drops(lab, reason):
    return lab.edge_counters()['handler'].get(f'drop:{reason}', 0)


def test_curl_from_the_internet_reaches_the_instance_by_its_elastic_ip(lab):
    with echo_server(lab.node('web-1')):
        rc, body = curl(lab.node('example-web'), f'http://{WEB_EIP}/')
    assert (rc, body) == (0, INTERNET)      # the instance sees the internet host's address


def test_the_internet_sees_the_elastic_ip(lab):
    with echo_server(lab.node('example-web')):
        rc, body = curl(lab.node('web-1'), f'http://{INTERNET}/')
    assert (rc, body) == (0, WEB_EIP)
