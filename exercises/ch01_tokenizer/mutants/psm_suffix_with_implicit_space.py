"""Encodes the suffix with encode(), which adds SentencePiece's implicit leading space."""

MUST_FAIL = ("check_psm_prompt",)


def psm_prompt(tokenizer, prefix, suffix):
    return ([tokenizer.bos_id, tokenizer.prefix_id] + tokenizer.encode(prefix) + [tokenizer.suffix_id]
            + tokenizer.encode(suffix) + [tokenizer.middle_id])
