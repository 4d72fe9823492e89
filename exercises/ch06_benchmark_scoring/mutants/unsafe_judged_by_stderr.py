"""Passed when nothing was printed to stderr: a program that exits with status 3 silently is counted as passing."""

MUST_FAIL = ("check_run_unsafely",)


def run_unsafely(problem, completion, timeout):
    import subprocess
    import sys

    program = f"{problem.prompt}{completion}\n\n{problem.test}\n\ncheck({problem.entry_point})\n"
    try:
        finished = subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timed out"
    return "passed" if not finished.stderr else "failed"
