"""Traffic between lab namespaces for experiments: iperf3 runs and RTT samples."""
import json
import time

from testbed.observe.journey import ping

IPERF_PORT = 5201


def iperf(client, server, server_ip, seconds=3, udp=False, udp_rate='2G', length=None):
    """One iperf3 run from node `client` to node `server`; the server is our own Popen
    and ends after one test (-1), so nothing is left running."""
    srv = server.popen(['iperf3', '-s', '-1', '-p', str(IPERF_PORT)])
    try:
        cmd = f'iperf3 -J --connect-timeout 3000 -c {server_ip} -p {IPERF_PORT} -t {seconds:g}'
        if udp:
            cmd += f' -u -b {udp_rate}'
        if length:
            cmd += f' -l {length:d}'
        for _ in range(50):            # until the server listens
            out = client.cmd(cmd)
            if '"error"' not in out or 'Connection refused' not in out:
                break
            time.sleep(0.1)
        # iperf3 may warn before its JSON (a UDP block larger than the TCP MSS, as meant)
        report = json.loads(out[out.find('{'):])
        if 'error' in report:
            raise RuntimeError('iperf3 {} -> {}: {}'.format(client.name, server_ip, report['error']))
        end = report['end']
        if udp:
            received = end.get('sum_received', end['sum'])
            return dict(mbps=received['bits_per_second'] / 1e6,
                        lost_percent=end['sum'].get('lost_percent', 0.0))
        return dict(mbps=end['sum_received']['bits_per_second'] / 1e6,
                    retransmits=end['sum_sent'].get('retransmits', 0))
    finally:
        try:
            srv.wait(timeout=5)
        except Exception:     # noqa: BLE001  (it did not get its one test: stop it)
            srv.terminate()
            srv.wait()


def rtts(node, ip, count, interval=0.02):
    """Warm RTTs in ms (ping's own timing)."""
    return ping(node, ip, count=count, interval=interval)[1]


def rtt_by_seq(node, ip, count, interval=0.05, wait=2):
    """{icmp_seq: RTT in ms} of the answered packets of one ping run (seq 1 is the
    first packet this instance ever sent to `ip`, if it never did before)."""
    out = node.cmd(f'ping -n -c {count:d} -i {interval} -W {wait:d} {ip}')
    found = {}
    for line in out.splitlines():
        fields = dict(w.split('=', 1) for w in line.split() if '=' in w)
        if 'icmp_seq' in fields and 'time' in fields:
            found[int(fields['icmp_seq'])] = float(fields['time'])
    return found
