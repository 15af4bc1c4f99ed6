"""photoverify: the command line that wires dedupe and verify together."""

__version__ = "0.1.0"
