"""SPM variant 1 (<SUF> suffix <PRE> prefix <MID> middle), the order many third-party docs describe."""

MUST_FAIL = ("check_spm",)


def spm(tokenizer, prefix, middle, suffix):
    return ([tokenizer.suffix_id] + tokenizer.encode_infilling(suffix) + [tokenizer.prefix_id]
            + tokenizer.encode(prefix) + [tokenizer.middle_id] + tokenizer.encode_infilling(middle)
            + [tokenizer.eot_id])
