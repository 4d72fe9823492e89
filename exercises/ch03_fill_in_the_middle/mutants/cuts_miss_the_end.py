"""Cut positions drawn from randint(0, len(text) - 1): a cut can never fall after the last character, so no middle
ever ends the document."""

MUST_FAIL = ("check_apply_fim",)


def apply_fim(tokenizer, text, rng, rate, spm_rate):
    if rng.random() >= rate:
        return tokenizer.encode(text)
    start, end = sorted((rng.randint(0, max(len(text) - 1, 0)), rng.randint(0, max(len(text) - 1, 0))))
    return fim_example(tokenizer, text, start, end, (rng.random() < spm_rate) or start == 0)  # noqa: F821
