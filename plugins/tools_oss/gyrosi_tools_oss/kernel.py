"""Starts ipykernel with its address space capped: `python -m gyrosi_tools_oss.kernel
-f CONNECTION_FILE --memory-mb=N`. The cap is set before the kernel exists, soft and hard, so
code running in it cannot lift it without privileges."""

import resource
import sys


def main() -> None:
    args = []
    for arg in sys.argv[1:]:
        if arg.startswith("--memory-mb="):
            limit = int(arg.split("=", 1)[1]) * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        else:
            args.append(arg)
    sys.argv = [sys.argv[0], *args]
    if sys.path and sys.path[0] == "":  # as ipykernel_launcher: not the kernel's cwd on the path
        del sys.path[0]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
