"""The experiments: one per row of the comparison table, the same steps for both architectures."""
