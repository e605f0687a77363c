"""testbed/labs/probe.py, the checker's sending end, on loopback (no lab, no root): it tells the runner the
source port of every attempt, since the Hyperplane node a flow meets depends on it."""
import socket
import subprocess
import sys

from testbed.labs.runner import PROBE


def connect(protocol, port, deadline_s):
    out = subprocess.run([sys.executable, PROBE, 'connect', protocol, '127.0.0.1', str(port), str(deadline_s)],
                         capture_output=True, text=True, timeout=30)
    return out.returncode, [int(line.split()[1]) for line in out.stdout.splitlines()]


def test_a_refused_connection_names_its_one_attempts_port():
    with socket.socket() as closed:         # a port surely free: bound, then closed, never listening
        closed.bind(('127.0.0.1', 0))
        port = closed.getsockname()[1]
    code, sports = connect('tcp', port, 1.0)
    assert code == 1 and len(sports) == 1 and sports[0] != port


def test_every_attempt_without_an_answer_has_its_own_port_and_says_it():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:    # takes the datagrams, answers none
        silent.bind(('127.0.0.1', 0))
        code, sports = connect('udp', silent.getsockname()[1], 1.0)
        received = []
        silent.setblocking(False)
        while True:
            try:
                received.append(silent.recvfrom(2048)[1][1])
            except BlockingIOError:
                break
    assert code == 2 and len(sports) >= 2 and len(set(sports)) == len(sports)
    assert received == sports
