"""The controller process: its configuration (from the topology model) and its life."""
import json
import os
import socket
import subprocess
import sys
import time

from testbed.fabric import firewall_config, host_services, hyperplane_plan
from testbed.run_dir import FLOW_LOG_FILE

LAUNCHER = 'controllers.launcher'
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def python_for_controller():
    """The controller's interpreter: ours (os-ken), or VPCLAB_CONTROLLER_PYTHON, e.g. a
    virtualenv with Ryu 4.34 (the apps run unchanged there; see controllers/compat.py)."""
    return os.environ.get('VPCLAB_CONTROLLER_PYTHON') or sys.executable


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def controller_config(topo, names, api_port, run_dir, security_groups=True, api_token_path=None):
    """Everything the apps are told at start: the hosts, the VPCs and their peers, their
    firewalls and routes, and the instances that launch with the lab (the mapping service
    registers them).  security_groups=False leaves conntrack out (for benchmarks).
    api_token_path: the root-only file whose token every POST to the API must carry."""
    vni = {name: vpc.vni for name, vpc in topo.vpcs.items()}
    peers = {v: [] for v in vni.values()}
    for p in topo.peerings:
        a, b = (vni[n] for n in p.vpcs)
        peers[a].append(b)
        peers[b].append(a)
    index = {inst.name: i for i, inst in enumerate(topo.instances(), start=1)}
    instances = []
    for vpc in topo.vpcs.values():
        for inst in vpc.instances.values():
            subnet = vpc.subnets[inst.subnet]
            instances.append(dict(vni=vpc.vni, ip=inst.ip, host=inst.host, mac=inst.mac,
                                  eni=inst.eni, instance=inst.name, subnet=subnet.id,
                                  gateway_ip=subnet.gateway_ip,
                                  port_name=names.instance_port(index[inst.name]),
                                  security_groups=list(inst.security_groups)))
    return dict(mode=topo.mode, api_port=api_port, api_token_path=api_token_path,
                hosts=[dict(name=h.name, dpid=h.index, underlay_ip=h.underlay_ip)
                       for h in topo.hosts.values()],
                vpcs=[dict(name=v.name, id=v.id, vni=v.vni, cidr=v.cidr,
                           account_id=firewall_config.account_id(v.account),
                           flow_log_interval_s=v.flow_log_interval_s,
                           security_groups=firewall_config.security_groups(v))
                      for v in topo.vpcs.values()],
                subnets=host_services.controller_subnets(topo, firewall_config.subnets(topo)),
                security_groups_enforced=security_groups,
                flow_log_path=os.path.join(run_dir, FLOW_LOG_FILE),
                peers=peers, instances=instances,
                hyperplane=hyperplane_plan.controller_section(topo))


class ControllerProcess:
    def __init__(self, run_dir, config):
        self.run_dir = run_dir
        self.config = config
        self.ofp_port = free_port()
        self.api_port = config['api_port']
        self.proc = None
        self.log_path = os.path.join(run_dir, 'controller.log')

    def start(self, on_pid):
        path = os.path.join(self.run_dir, 'controller.json')
        with open(path, 'w') as f:
            json.dump(self.config, f, indent=1)
        log = open(self.log_path, 'w')
        self.proc = subprocess.Popen(
            [python_for_controller(), '-m', LAUNCHER, '--config', path,
             '--ofp-port', str(self.ofp_port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=REPO)
        log.close()
        on_pid(self.proc.pid, LAUNCHER)
        self._wait_listening(self.ofp_port)
        self._wait_listening(self.api_port)

    def _wait_listening(self, port, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f'the controller exited ({self.proc.returncode}); its log says:\n{self.log_tail()}')
            try:
                socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f'the controller did not listen on port {port} within {timeout:.0f} s:\n'
                           f'{self.log_tail()}')

    def log_tail(self, lines=20):
        try:
            with open(self.log_path) as f:
                return ''.join(f.readlines()[-lines:])
        except OSError:
            return ''

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
