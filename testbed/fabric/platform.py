"""What this machine can do, checked before anything is built, with one clear sentence
when something is missing."""
import os
import shutil
import subprocess


class PlatformError(RuntimeError):
    """The machine cannot run a lab; the message says what to do."""


def check():
    if os.geteuid() != 0:
        raise PlatformError('vpclab builds networks and must run as root: use sudo')
    for tool in ('ovs-vsctl', 'ovs-ofctl', 'ovs-appctl', 'ip', 'ethtool', 'tcpdump'):
        if shutil.which(tool) is None:
            raise PlatformError(f'{tool} is not installed: run `sudo make setup`')
    r = subprocess.run(['ovs-vsctl', '--timeout=5', 'show'], capture_output=True, text=True)
    if r.returncode:
        raise PlatformError(f'Open vSwitch is not running ({r.stderr.strip().splitlines()[-1:]}): '
                            'run `sudo make setup` or `/usr/share/openvswitch/scripts/ovs-ctl start`')

