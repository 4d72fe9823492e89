"""The suffix encoded with enc(), so a dummy space sits before it (Meta strips it; a 5.x fast tokenizer does not)."""

MUST_FAIL = ("check_psm", "check_fim_example")


def psm(tokenizer, prefix, middle, suffix):
    return ([tokenizer.prefix_id] + tokenizer.encode(prefix) + [tokenizer.suffix_id] + tokenizer.encode(suffix)
            + [tokenizer.middle_id] + tokenizer.encode_infilling(middle) + [tokenizer.eot_id])


def fim_example(tokenizer, text, start, end, suffix_first):
    prefix, middle, suffix = text[:start], text[start:end], text[end:]
    if suffix_first:
        return ([tokenizer.prefix_id, tokenizer.suffix_id] + tokenizer.encode(suffix) + [tokenizer.middle_id]
                + tokenizer.encode(prefix + middle) + [tokenizer.eot_id])
    return psm(tokenizer, prefix, middle, suffix)
