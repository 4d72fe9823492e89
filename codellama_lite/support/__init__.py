"""Plumbing every floor uses: atomic file writes and the cache folder (``fileio``), files shipped with the package
(``resources``), the profiles ``smoke`` / ``laptop`` / ``gpu`` (``profiles``), typed settings (``schema``) and where a
stop sequence cuts a completion (``text``)."""
