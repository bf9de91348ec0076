"""Starts ipykernel with limits: `python -m gyrosi_tools_oss.kernel -f CONNECTION_FILE
[--memory-mb=N] [--max-processes=N] [--uid=N --gid=N]`. The limits are set before the kernel
exists, soft and hard, so code running in it cannot lift them; `--uid`/`--gid` (given when the
server runs as root, inside the sandbox) drop to that user and group last, which also drops every
capability."""

import os
import resource
import sys


def main() -> None:
    args = []
    uid = gid = None
    for arg in sys.argv[1:]:
        name, _, value = arg.partition("=")
        if name == "--memory-mb":
            limit = int(value) * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        elif name == "--max-processes":
            resource.setrlimit(resource.RLIMIT_NPROC, (int(value), int(value)))
        elif name == "--uid":
            uid = int(value)
        elif name == "--gid":
            gid = int(value)
        else:
            args.append(arg)
    if uid is not None:
        os.setgroups([])
        os.setgid(uid if gid is None else gid)
        os.setuid(uid)
    sys.argv = [sys.argv[0], *args]
    if sys.path and sys.path[0] == "":  # as ipykernel_launcher: not the kernel's cwd on the path
        del sys.path[0]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
