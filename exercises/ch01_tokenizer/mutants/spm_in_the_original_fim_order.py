"""SPM as first proposed for FIM (<SUF> suffix <PRE> prefix <MID>), not Code Llama's <PRE> <SUF> suffix <MID> prefix."""

MUST_FAIL = ("check_spm_prompt",)


def spm_prompt(tokenizer, prefix, suffix):
    return ([tokenizer.bos_id, tokenizer.suffix_id] + tokenizer.encode_infilling(suffix) + [tokenizer.prefix_id]
            + tokenizer.encode(prefix) + [tokenizer.middle_id])
