"""PSM or SPM drawn before the cut positions: the same choices, in another order, give other examples than the
package's on the same seed."""

MUST_FAIL = ("check_apply_fim",)


def apply_fim(tokenizer, text, rng, rate, spm_rate):
    if rng.random() >= rate:
        return tokenizer.encode(text)
    suffix_first = rng.random() < spm_rate
    start, end = sorted((rng.randint(0, len(text)), rng.randint(0, len(text))))
    return fim_example(tokenizer, text, start, end, suffix_first or start == 0)  # noqa: F821
