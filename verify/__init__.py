"""Checking a library: four rooms.

- `manifest`: checksum manifests in the peer tools' formats, and fixity (a tree against one).
- `checks`: decode checks, metadata expectations, Apple's export CSV, and the `verify` run.
- `audit`: did a migration lose anything (sources against DEST, the ledger, the view a person sees).
- `report`: the report model, its HTML and its terminal rendering, what each outcome means.

Dependencies point one way: report -> audit -> checks -> manifest -> photoverify.dedupe.
"""
