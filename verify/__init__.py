"""Manifests, fixity and decode checks, metadata expectations, audits and reports."""
