"""Parts of the sample-library generator (`benchmarks.make_library`)."""
