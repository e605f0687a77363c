"""Running an appliance as a process: each prints `ready...` on stdout when it works and, on SIGTERM,
its counters as one JSON line on stderr (as the delay line does).  The caller keeps the process's
PID and stops only that process."""
import json
import signal
import subprocess


def wait_ready(proc):
    """The words of the process's `ready` line (stdout must be a text pipe), or RuntimeError."""
    words = proc.stdout.readline().split()
    if not words or words[0] != 'ready':
        raise RuntimeError(f'{proc.args!r} did not start: {words!r}')
    return words


def stop(proc, timeout=10):
    """SIGTERM, then the counters it printed (stderr must be a text pipe); killed if it hangs."""
    try:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = err.strip().splitlines()
    try:
        return json.loads(lines[-1]) if lines else {}
    except ValueError:
        return {'error': lines[-1]}
