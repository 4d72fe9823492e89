"""The workbook's measurements, one module per chapter: ``tokenizer`` (chapter 1), ``fim`` (chapter 3's FIM
ablation and infilling), ``longcontext`` (chapter 4), ``inspect_model`` (looking inside a trained model) and
``findings`` (the table of the paper's findings against ours)."""
