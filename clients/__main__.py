import os
import sys

from clients.cli import main

try:
    if sys.argv[1:] == ["serve"]:  # the lab's long-lived runner of client commands (clients/serve.py)
        from clients.serve import main as serve

        code = serve()
    else:
        code = main()
    sys.stdout.flush()
except BrokenPipeError:  # the reader went away (``| head``): not an error worth a traceback
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    code = 1
sys.exit(code)
