"""Evaluation (Code Llama §3): benchmarks, a sandbox whose verdicts cannot be forged, pass@k and reports.

Modules, in the order a sample travels: ``humaneval`` / ``mbpp`` / ``infilling`` (problems, prompts, programs, each a
``tasks.Task``), ``generation`` (the paper's sampling protocol, resumable) and ``stops`` (stop-sequence truncation),
``samples`` (samples and results files), ``sandbox`` (execution), ``scoring`` (verdicts per sample), ``passk`` (the
unbiased estimator), ``report`` (tables beside the paper's); ``evaluate`` is the one path through them that every
caller takes (model -> samples -> verdicts, then pass@k). ``synthetic`` is a stand-in sampler with known pass rates
for teaching, not a model.
"""
