"""No <EOT> after the middle: the model never learns where a middle ends, and generation cannot stop."""

MUST_FAIL = ("check_psm",)


def psm(tokenizer, prefix, middle, suffix):
    return ([tokenizer.prefix_id] + tokenizer.encode(prefix) + [tokenizer.suffix_id]
            + tokenizer.encode_infilling(suffix) + [tokenizer.middle_id] + tokenizer.encode_infilling(middle))
