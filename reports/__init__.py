"""Reports: the self-contained HTML report of a run (or of any checked history)."""
