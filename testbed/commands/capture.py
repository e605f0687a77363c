"""`vpclab capture TARGET [-w FILE|-] [-c COUNT] [FILTER ...]`: tcpdump on the running lab, by name.

TARGET is an instance (its port on its host's bridge: what it sends and receives, unencapsulated), a
physical host (its NIC cable vl_nic<N>: the encapsulated traffic, Geneve or VXLAN, which Wireshark
decodes; the cable is a patch port, so its first capture adds the veth vl_nic<N> that ul0 copies
the cable to, testbed/fabric/nic_capture.py), or any interface the lab recorded (vl_nic1, a ToR's
uplink, an edge link when there is one).  -w FILE writes a pcap, -w - streams it to standard output
(e.g. into `wireshark -k -i -`); without -w tcpdump prints what it sees.  A legend VNI -> VPC goes to
standard error.  Ctrl-C ends it cleanly (the pcap is complete); the exit code is tcpdump's."""
import signal
import subprocess
import sys

from testbed.errors import UsageError
from testbed.fabric.names import Names


def capture_arguments(p):
    p.add_argument('target', metavar='TARGET', help='an instance, a physical host (its NIC) or a lab interface')
    p.add_argument('filter', nargs='*', metavar='FILTER', help='a BPF filter, e.g. icmp, or udp port 6081')
    p.add_argument('-w', '--write', metavar='FILE', help='write a pcap to FILE; - streams it to standard output')
    p.add_argument('-c', '--count', type=int, metavar='COUNT', help='stop after COUNT packets')
    p.add_argument('-s', '--snaplen', type=int, default=0, metavar='BYTES',
                   help='bytes kept of each packet (default: all)')


def interface(topo, names, recorded, target, where=None):
    """(interface, what it is) of a capture target; UsageError naming what there is if none."""
    instances = [i.name for i in topo.instances()]
    if target in instances:
        host = (where or {}).get(target, topo.instance(target).host)
        return (names.instance_port(instances.index(target) + 1),
                f'{target}\'s port on {host}\'s bridge {names.hypervisor(topo.hosts[host])}')
    if target in topo.hosts:
        return names.nic(topo.hosts[target]), f'the NIC cable of physical host {target}'
    if target in recorded:
        return target, 'a cable of the lab'
    raise UsageError(f'capture: {target!r} is no instance, physical host or interface of the running lab; e.g. '
                     f'{instances[0]}, {next(iter(topo.hosts))} or {names.nic(next(iter(topo.hosts.values())))}')


def legend(topo):
    return [f'VNI {vpc.vni} -> VPC {vpc.name} ({vpc.id}, {vpc.cidr})' for vpc in topo.vpcs.values()]


def tcpdump_command(intf, args):
    cmd = ['tcpdump', '-i', intf, '-nn', '-s', str(args.snaplen), '--immediate-mode']
    if args.count is not None:
        if args.count < 1:
            raise UsageError('capture: -c COUNT must be at least 1')
        cmd += ['-c', str(args.count)]
    cmd += ['-U', '-w', args.write] if args.write else ['-l', '-e']
    return cmd + args.filter


def cmd_capture(args):
    from testbed.commands.lab_commands import RunningLab
    lab = RunningLab()
    topo = lab.topology
    where = {e['instance']: e['host'] for e in lab.api.mappings()}
    names = Names(lab.state.data['prefix'])
    intf, what = interface(topo, names, lab.state.data.get('interfaces', []), args.target, where)
    cmd = tcpdump_command(intf, args)
    nics = {names.nic(h): h for h in topo.hosts.values()}
    if intf in nics:                    # a patch-port cable's capture veth is made on first use
        from testbed.fabric.nic_capture import capture_point  # here: it loads Mininet
        capture_point(names, nics[intf])
    print(f'capturing on {intf}, {what} ({topo.encapsulation} on the underlay); Ctrl-C ends it', file=sys.stderr)
    for line in legend(topo):
        print(f'  {line}', file=sys.stderr)
    sys.stderr.flush()
    proc = subprocess.Popen(cmd)
    try:
        return proc.wait()
    except KeyboardInterrupt:           # tcpdump had the same SIGINT: let it finish its file
        try:
            return proc.wait(timeout=5) if proc.returncode is None else proc.returncode
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            return proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait()
