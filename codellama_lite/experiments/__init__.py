"""The workbook's measurements, one module per chapter: ``tokenizer`` (chapter 1), ``fim`` (chapter 3's FIM
ablation and infilling), ``longcontext`` (chapter 4), ``inspect_model`` (looking inside a trained model),
``findings`` (the table of the paper's findings against ours) and ``released`` (a downloaded Code Llama measured in
chapters 1, 3, 4 and 6)."""
