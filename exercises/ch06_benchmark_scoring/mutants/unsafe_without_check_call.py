"""The test code defined but check(entry_point) never called: every completion that runs at all "passes"."""

MUST_FAIL = ("check_run_unsafely",)


def run_unsafely(problem, completion, timeout):
    import subprocess
    import sys

    program = f"{problem.prompt}{completion}\n\n{problem.test}\n"
    try:
        finished = subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timed out"
    return "passed" if finished.returncode == 0 else "failed"
