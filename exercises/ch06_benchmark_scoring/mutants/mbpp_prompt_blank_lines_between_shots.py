"""Separates the shots with a blank line instead of a single newline."""

MUST_FAIL = ("check_mbpp_prompt",)


def mbpp_prompt(problem, shots):
    def head(p):
        return (f"You are an expert Python programmer, and here is your task: {p.text} "
                "Your code should pass these tests:\n\n" + "\n".join(p.test_list) + "\n[BEGIN]\n")

    return "\n\n".join([head(shot) + shot.code + "\n[DONE]" for shot in shots] + [head(problem)])
