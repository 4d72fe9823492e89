"""The staged recipe of Code Llama's Figure 2, above training and evaluation: the model cache (``cache``), the chain
of stages and its GPU plan (``chain``), and self-instruct with execution feedback (``selfinstruct``, §2.5)."""
