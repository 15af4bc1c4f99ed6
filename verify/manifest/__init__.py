"""Checksum manifests: the formats peer tools read and write, in both directions, and a tree on
disk checked against one (fixity).

A manifest maps paths relative to a root to content digests (and sizes where the format has
them). Formats, each written and read, each in its own module:

* ``b3sum`` / ``sha256sum`` / ``sha1sum`` / ``md5sum`` (sums): ``HASH  path`` lines, as the GNU
  tools and ``b3sum`` write them;
* ``hashdeep`` (hashdeep): the HASHDEEP-1.0 CSV with sizes;
* ``bagit`` (bag): a BagIt 1.0 bag that bagit-python validates, its payload hard links (or
  copies) of the tree's files;
* ``json`` (json_format): photoverify's own, one entry per line, with capture time and GPS.

The records and the names a format can hold are in entries, a tree's files and their digests in
tree, what every reader shares in parsing; write_manifest and render_manifest (write) and
read_manifest (read) choose the format.

Paths are written as they are on disk (``/``-separated) for the line formats and hashdeep, because
their peers open files by the bytes in the manifest and Linux file systems do not normalize
Unicode; ``json`` and ``bagit`` names are NFC, except that two names with one NFC form (two files
on Linux) are both written as they are in ``json``. Reading keeps every spelling as its own entry
and checking matches NFC/NFD-insensitively (see entries.path_key, fixity.check_fixity).
Entries that point outside the root are refused, never read.

Every writer goes through entries.unholdable: a name a format cannot hold (b3sum: not UTF-8, or
ending in CR; hashdeep: a newline, or ending in CR; BagIt: not UTF-8, trailing whitespace,
``%0A``/``%0D``, line breaks other than CR/LF, NFC twins; any format: a name the reader refuses,
like ``\\x`` or ``C:x``) is left out of that manifest (and of a bag's payload) and reported in
``Manifest.errors``, one finding naming it, so a written manifest always reads back here and
passes its peer's check.
"""

from photoverify.dedupe.core.lazy import exports

__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "Manifest": "entries",
        "ManifestEntry": "entries",
        "path_key": "entries",
        "read_manifest": "read",
        "render_b3sum": "write",
        "render_manifest": "write",
        "write_manifest": "write",
    },
)
