"""Plumbing every floor uses: atomic file writes and the cache folder (``fileio``), files shipped with the package
(``resources``), and the profiles ``smoke`` / ``laptop`` / ``gpu`` (``profiles``)."""
