"""The flows of a physical host's bridge, as Open vSwitch prints them (ovs-ofctl dump-flows)."""
import subprocess

from controllers import pipeline


def table_number(word):
    """The table of a stage given by number or name (controllers/pipeline.py); ValueError
    names the stages when there is no such one."""
    try:
        return pipeline.stage(word).table
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None


def dump_flows(bridge, table=None):
    """ovs-ofctl's text of `bridge`'s flows, of one table if given (a number or a stage name)."""
    cmd = ['ovs-ofctl', '-O', 'OpenFlow13', 'dump-flows', bridge]
    if table is not None:
        cmd.append(f'table={table_number(table)}')
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f'ovs-ofctl dump-flows {bridge}: {out.stderr.strip()}')
    return out.stdout
