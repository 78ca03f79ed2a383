"""Development tools that run from the repository (not part of the ``mercato`` package)."""
