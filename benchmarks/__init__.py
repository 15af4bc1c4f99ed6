"""Sample-library generator and side-by-side benchmarks."""
