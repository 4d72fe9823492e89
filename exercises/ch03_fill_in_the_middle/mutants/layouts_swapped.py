"""PSM produced when SPM is asked for, and SPM for PSM."""

MUST_FAIL = ("check_fim_example",)


def fim_example(tokenizer, text, start, end, suffix_first):
    prefix, middle, suffix = text[:start], text[start:end], text[end:]
    if not suffix_first:
        return ([tokenizer.prefix_id, tokenizer.suffix_id] + tokenizer.encode_infilling(suffix)
                + [tokenizer.middle_id] + tokenizer.encode(prefix + middle) + [tokenizer.eot_id])
    return ([tokenizer.prefix_id] + tokenizer.encode(prefix) + [tokenizer.suffix_id]
            + tokenizer.encode_infilling(suffix) + [tokenizer.middle_id] + tokenizer.encode_infilling(middle)
            + [tokenizer.eot_id])
