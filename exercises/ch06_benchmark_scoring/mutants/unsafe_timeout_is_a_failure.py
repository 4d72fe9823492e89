"""A timeout reported as an ordinary failure: the report can no longer tell a slow program from a wrong one."""

MUST_FAIL = ("check_run_unsafely",)


def run_unsafely(problem, completion, timeout):
    import subprocess
    import sys

    program = f"{problem.prompt}{completion}\n\n{problem.test}\n\ncheck({problem.entry_point})\n"
    try:
        finished = subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "failed"
    return "passed" if finished.returncode == 0 else "failed"
