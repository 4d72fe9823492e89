"""The sandbox (Code Llama §3 scores generated code by running it): verdicts a candidate cannot forge.

Read in this order: ``client`` (the :class:`Sandbox` a caller uses: requests, timeouts, verdicts), ``wire`` (messages
and values between processes), ``isolation`` (namespaces, limits, cgroups, isolation levels), ``judge`` (the trusted
judge and the untrusted candidate runner), ``server`` (the fork server, started through ``_child.py``).
"""

from codellama_lite.evaluation.sandbox.client import STATUSES, IsolationError, Program, Sandbox, Verdict

__all__ = ["STATUSES", "IsolationError", "Program", "Sandbox", "Verdict"]
