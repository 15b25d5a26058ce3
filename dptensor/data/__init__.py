"""DeePMD-format data: systems, labels, neighbor lists and batches (numpy only)."""
