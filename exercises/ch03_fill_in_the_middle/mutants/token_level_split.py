"""The cut positions taken as token positions in enc(text) (as santacoder's fine-tuning code splits), not characters."""

MUST_FAIL = ("check_fim_example",)


def fim_example(tokenizer, text, start, end, suffix_first):
    ids = tokenizer.encode(text)
    prefix, middle, suffix = (tokenizer.decode(ids[:start]), tokenizer.decode_infilling(ids[start:end]),
                              tokenizer.decode_infilling(ids[end:]))
    if suffix_first:
        return ([tokenizer.prefix_id, tokenizer.suffix_id] + tokenizer.encode_infilling(suffix)
                + [tokenizer.middle_id] + tokenizer.encode(prefix + middle) + [tokenizer.eot_id])
    return ([tokenizer.prefix_id] + tokenizer.encode(prefix) + [tokenizer.suffix_id]
            + tokenizer.encode_infilling(suffix) + [tokenizer.middle_id] + tokenizer.encode_infilling(middle)
            + [tokenizer.eot_id])
