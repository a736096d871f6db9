"""Scripts that generate small data sets in the real on-disk layouts."""
