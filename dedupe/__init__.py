"""Finding duplicates and moving a library: four rooms.

- `core`: what every room shares (records, errors, paths, time, hashing, JSON, outputs, SQLite).
- `catalog`: reading files in (walk, sniff, exiftool metadata, fingerprints, the scan, the catalog).
- `match`: what is a duplicate of what (the hash index, the relation graph, companions, the keeper
  policy, exact duplicates from bytes alone).
- `move`: plans and carrying them out (naming, the plan, apply and undo, the metadata merge).

Dependencies point one way: move -> match -> catalog -> core.
"""
