"""Entry point of the sandbox's child processes: ``python -I _child.py zygote FD``.

Started by :mod:`codellama_lite.evaluation.sandbox` in a clean, isolated interpreter (``-I``: no environment
variables, no user site, no script directory on ``sys.path``), so the processes it forks never hold the parent's
state. It puts the directory holding ``codellama_lite`` on ``sys.path`` and hands over to the fork server,
:mod:`codellama_lite.evaluation.sandbox.server`. The pieces, each with the threat it answers:
``wire`` (messages and values), ``isolation`` (namespaces, limits, cgroups, levels),
``judge`` (the trusted judge and the untrusted candidate runner), ``server`` (the fork server).
"""

import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
    from codellama_lite.evaluation.sandbox.server import main

    main(sys.argv)
