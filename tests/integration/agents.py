"""What tests and the bench ask of the processes a rally-agent runs: which
of a compute's processes rally has ACTIVE, and the OS process behind a
process id (the agent hands it over in the environment, never argv)."""

import os

from rally import psql


def active(compute):
    """The process ids rally has ACTIVE on a compute."""
    return set(psql("SELECT process_id FROM fleet.processes WHERE compute_name = :'p1' "
                    "AND status = 'ACTIVE'", compute)) - {""}


def pid_of(process_id):
    """The OS process an agent launched as process_id, or None."""
    needle = ("GAMELIFT_SDK_PROCESS_ID=%s" % process_id).encode()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/environ" % d, "rb") as f:
                    if needle in f.read().split(b"\0"):
                        return int(d)
            except OSError:
                pass
    return None


def alive(pid):
    """Whether pid runs (a zombie does not)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False
