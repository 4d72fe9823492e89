"""The toy code world: generated function-writing problems a laptop-trained model can learn.

HumanEval is out of reach for models trained in minutes on a CPU (CodeParrot's 110M-parameter model, trained on about
30B tokens of Python, scores 3.8% pass@1), so the workbook measures its findings on a world small enough to learn and
rich enough to measure: problems in HumanEval's shape (a signature, a templated docstring with examples, a canonical
body, hidden tests computed by running it), in families of rising difficulty, split so that ``test`` measures unseen
instances and ``heldout`` unseen compositions.

    >>> from codellama_lite.data.toyworld import problems
    >>> problem = problems("test", seed=0, count=1)[0]
"""

from codellama_lite.data.toyworld.documents import FILE_SEPARATOR, training_documents, training_files
from codellama_lite.data.toyworld.generator import Problem
from codellama_lite.data.toyworld.splits import CONTROL, SPLITS, iter_problems, problems, shuffled_specs

__all__ = ["CONTROL", "SPLITS", "Problem", "iter_problems", "problems", "shuffled_specs", "training_documents",
           "training_files", "FILE_SEPARATOR"]
