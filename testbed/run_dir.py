"""A lab's run directory: the controller's configuration and log and the VPC flow logs, in
/tmp/vpclab-<topology>-XXXX while the lab runs.  When the lab stops it is removed; what the user
asked to keep (`keep=DIR`, `vpclab up --keep DIR`) is first copied where they asked."""
import json
import os
import re
import shutil
import tempfile

from testbed.fabric.runstate import read_private

PREFIX = 'vpclab-'
FLOW_LOG_FILE = 'flow-logs.txt'       # the controller's VPC flow logs (testbed/fabric/controller.py)
RESULTS = (FLOW_LOG_FILE, 'controller.log')      # what keep= saves of a run


def new(topology_name):
    """A new run directory (the topology's name in it only as letters, digits and dashes)."""
    label = re.sub(r'[^A-Za-z0-9-]+', '-', topology_name)[:32].strip('-') or 'lab'
    return tempfile.mkdtemp(prefix=f'{PREFIX}{label}-')


def keep(run_dir, dest):
    """Copies the run's results into directory `dest` (made if need be); returns their paths.
    The copies are written without following a link that stands in their place."""
    os.makedirs(dest, exist_ok=True)
    kept = []
    for name in RESULTS:
        src = os.path.join(run_dir, name)
        if not os.path.isfile(src):
            continue
        target = os.path.join(dest, name)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with open(src, 'rb') as f, os.fdopen(fd, 'wb') as out:
            shutil.copyfileobj(f, out)
        kept.append(target)
    return kept


def remove(path):
    """Removes `path` if it is a run directory (a real directory vpclab-* right in the temporary
    directory); anything else is left alone, since the path may come from a forged run state.
    Returns whether it removed something."""
    if not path or not isinstance(path, str):
        return False
    if os.path.dirname(path) != tempfile.gettempdir() or not os.path.basename(path).startswith(PREFIX):
        return False
    if os.path.islink(path) or not os.path.isdir(path):
        return False
    shutil.rmtree(path)
    return True


def read_counters(run_dir, prefix, suffix):
    """name -> the counters a lab's process last wrote to <run_dir>/<prefix><name><suffix> (its edge
    nodes and service processes write theirs every second, for another terminal to read)."""
    out = {}
    for name in sorted(os.listdir(run_dir)) if run_dir and os.path.isdir(run_dir) else ():
        if name.startswith(prefix) and name.endswith(suffix):
            try:
                out[name[len(prefix):-len(suffix)]] = json.loads(read_private(os.path.join(run_dir, name)))
            except (TypeError, ValueError):
                continue
    return out
