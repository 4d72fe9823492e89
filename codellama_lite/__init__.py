"""codellama-lite: a workbook that reproduces Code Llama (Roziere et al., 2023, arXiv 2308.12950) end to end.

Each paper section lives in one module (see README's chapter map); notebooks in ``notebooks/`` narrate and call them.
"""

__version__ = "0.1.0"
