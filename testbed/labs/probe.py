"""The two ends of a check's packets, run inside a lab node's namespace by the runner (testbed/labs/runner.py);
the standard library only, so that it starts in a few tens of milliseconds.

    python probe.py listen tcp|udp PORT            prints `ready`, then accepts (tcp) or echoes (udp) until killed
    python probe.py connect tcp|udp ADDRESS PORT DEADLINE_S
        prints `sport N` before each attempt (its source port); exit 0: connected (tcp) or echoed (udp);
        1: refused (a RST, or ICMP port unreachable); 2: no answer

Attempts are repeated within the deadline (a first packet may wait on a reactive cache miss), each with a
new source port, so that one lost SYN does not cost the kernel's one-second retransmission (a new socket
on the old port would send a SYN of another sequence number, which conntrack may call invalid).  The
runner is told the ports because the Hyperplane node a flow meets depends on its client port."""
import socket
import sys
import time

ATTEMPT_S = 0.3


def listen(protocol, port):
    kind = socket.SOCK_STREAM if protocol == 'tcp' else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', port))
    if protocol == 'tcp':
        s.listen(64)
    print('ready', flush=True)
    while True:
        if protocol == 'tcp':
            conn, _ = s.accept()
            conn.close()
        else:
            data, peer = s.recvfrom(2048)
            s.sendto(data, peer)


def connect(protocol, address, port, deadline_s):
    end = time.monotonic() + deadline_s
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return 2
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM if protocol == 'tcp' else socket.SOCK_DGRAM) as s:
                s.bind(('0.0.0.0', 0))
                print(f'sport {s.getsockname()[1]}', flush=True)
                s.settimeout(min(ATTEMPT_S, left))
                s.connect((address, port))
                if protocol == 'tcp':
                    return 0
                s.send(b'vpclab check')
                if s.recv(2048) == b'vpclab check':
                    return 0
        except ConnectionRefusedError:
            return 1
        except OSError:         # timed out, or unreachable: try again while there is time
            time.sleep(0.02)


def main(argv):
    if argv[0] == 'listen':
        listen(argv[1], int(argv[2]))
        return 0
    return connect(argv[1], argv[2], int(argv[3]), float(argv[4]))


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
