"""SPM with the suffix encoded by encode(), keeping the implicit leading space that Code Llama strips."""

MUST_FAIL = ("check_spm_prompt",)


def spm_prompt(tokenizer, prefix, suffix):
    return ([tokenizer.bos_id, tokenizer.prefix_id, tokenizer.suffix_id] + tokenizer.encode(suffix)
            + [tokenizer.middle_id] + tokenizer.encode(prefix))
