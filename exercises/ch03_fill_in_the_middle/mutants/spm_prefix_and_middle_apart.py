"""SPM with prefix and middle encoded separately: a cut inside a word becomes a token boundary training never shows."""

MUST_FAIL = ("check_spm",)


def spm(tokenizer, prefix, middle, suffix):
    return ([tokenizer.prefix_id, tokenizer.suffix_id] + tokenizer.encode_infilling(suffix) + [tokenizer.middle_id]
            + tokenizer.encode(prefix) + tokenizer.encode_infilling(middle) + [tokenizer.eot_id])
