"""Scanning, fingerprints, the catalog, the duplicate graph and merge plans."""
