"""The commands the fabric builders run: a shell line, an ovs-vsctl transaction, a bridge's flows.
Each raises with the command's own error, so a half-built lab stops at its first failure."""
import subprocess


def sh(cmd):
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f'{cmd[:300]} failed: {r.stderr.strip()}')
    return r.stdout


def vsctl(*args, timeout=30):
    """One ovs-vsctl transaction (arguments as a list: no shell, no 128 KiB limit of one
    shell word)."""
    r = subprocess.run(['ovs-vsctl', f'--timeout={timeout}', *args], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f'ovs-vsctl {" ".join(args)[:200]} failed: {r.stderr.strip()}')
    return r.stdout


def add_flows(bridge, flows):
    proc = subprocess.run(['ovs-ofctl', '-O', 'OpenFlow13', 'add-flows', bridge, '-'], input='\n'.join(flows),
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f'flows for {bridge} rejected: {proc.stderr.strip()}')
