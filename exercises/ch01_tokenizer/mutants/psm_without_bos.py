"""Leaves out the beginning-of-sequence token before <PRE>."""

MUST_FAIL = ("check_psm_prompt",)


def psm_prompt(tokenizer, prefix, suffix):
    return ([tokenizer.prefix_id] + tokenizer.encode(prefix) + [tokenizer.suffix_id]
            + tokenizer.encode_infilling(suffix) + [tokenizer.middle_id])
