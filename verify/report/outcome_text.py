"""What each outcome means, in a sentence a person who is not a programmer understands, and the
tone a report gives it. Pure data and two lookups; the report and the terminal use them.

Tones: `bad` (something was lost or failed), `warn` (worth a look), `good` (arrived, checked),
`neutral` (listed, neither a problem nor a proof: never green)."""

from __future__ import annotations

PLAIN: dict[str, str] = {
    # audit: how each source photo or video is accounted for
    "present": "Arrived with identical bytes.",
    "converted": "Arrived in another format or size (the same photo, re-encoded).",
    "metadata-changed": "Arrived with the same pixels, but its metadata was changed or removed.",
    "merged": "A duplicate: not copied, because its keeper arrived in its place.",
    "missing": "Not in the new library: neither its bytes nor the same photo are there.",
    "unreadable": "Could not be read, so nothing can be said about it.",
    "extra": "In the new library, but no original maps to it.",
    "not-media": "Not a photo, video or sidecar (a text file, a document): listed, not copied.",
    "broken-in-source": "Already broken in the original (it does not decode there either): "
    "copied as it was. Not lost in the move, but worth a look.",
    "unchecked": "Nothing here decodes it (its format, its layout, or its size over the decode "
    "budget): its bytes were compared, its picture was never looked at.",
    # audit: metadata
    "capture-time-lost": "The date and time the photo was taken is gone.",
    "capture-time-shifted": "The date and time the photo was taken moved.",
    "capture-time-changed": "The date the photo was taken is a different one.",
    "capture-time-zone-shift": "The same moment, written in another time zone.",
    "capture-time-precision-lost": "The capture time lost its fractions of a second or its "
    "time zone.",
    "gps-lost": "The place the photo was taken is gone.",
    "gps-moved": "The place the photo was taken moved.",
    "labels-lost": "Its title, keywords or rating are gone.",
    "camera-lost": "The camera make and model are gone.",
    "camera-changed": "The camera make or model changed.",
    "resolution-reduced": "It arrived with fewer pixels than the original.",
    "metadata-gained": "Arrived, and received what its duplicates or sidecars knew (capture "
    "time, place, title, keywords) through `plan --merge-metadata`; the pixels are unchanged.",
    "content-altered": "Same format and size, other bytes: damaged on the way or edited in place.",
    "live-photo-motion-lost": "The still arrived, its Live Photo motion video did not.",
    "sidecar-lost": "A sidecar (XMP, AAE, JSON) holding its edits or metadata did not come along.",
    "companion-lost": "A file that belongs with it did not come along.",
    "companion-detached": "A file that belongs with it arrived, but in another place.",
    # audit: the ledger that `apply` wrote
    "ledger-unreadable": "The record `apply` keeps of what it copied could not be read.",
    "ledger-target-missing": "`apply` recorded copying it here, and it is not here.",
    "ledger-target-changed": "`apply` recorded other bytes for this copy than it has now.",
    "ledger-duplicate-target-missing": "The copy this duplicate was merged into is not there.",
    "ledger-entry-failed": "`apply` could not copy it.",
    "ledger-entry-skipped": "The plan left it out on purpose, so it was not copied.",
    "ledger-source-unlisted": "An original that `apply` never saw (added after the plan was "
    "made, or outside its folders).",
    "ledger-source-not-audited": "`apply` copied it from a folder this audit did not look at.",
    # audit --apple-checksum and Photo Details.csv
    "apple-capture-time-differs": "Apple's export list gives another capture time than the "
    "file holds.",
    "apple-capture-time-only-in-csv": "Only Apple's export list knows when it was taken; the "
    "file itself does not say.",
    "apple-checksum-matched": "Apple's export list vouches for these exact bytes.",
    "apple-checksum-unconfirmed": "Apple's checksum could not be confirmed (not proof of "
    "damage on its own).",
    "apple-csv-unreadable": "Apple's export list (Photo Details.csv) could not be read.",
    "apple-file-missing": "Apple's export list names a file the export does not hold.",
    "apple-unlisted-file": "A file of the export that Apple's export list does not name.",
    # verify: fixity against a manifest
    "matched": "Its bytes are exactly those the manifest recorded.",
    "changed": "Its bytes differ from those the manifest recorded.",
    "moved": "Found under another name or folder, bytes unchanged.",
    "duplicated": "Found more than once.",
    "new": "Not in the manifest: added since it was written.",
    # verify --decode
    "decoded": "Decoded completely.",
    "truncated": "The file ends early: part of the picture or video is gone.",
    "decode-failed": "Does not decode: the picture or video is damaged.",
    "decode-skipped": "Not decoded: it changed or vanished since it was scanned.",
    "unsupported-format": "Nothing here decodes it (its format, its layout, or its size over "
    "the decode budget): it was not checked.",
}

# Outcomes a report lists apart from the problems: neither a loss nor a proof of one.
LISTED = frozenset({"merged", "not-media", "unchecked", "decode-skipped"})
# Outcomes whose count is never green: nothing was shown to be fine.
NEUTRAL = LISTED | {"unsupported-format", "ledger-source-not-audited"}


def plain(outcome: str) -> str:
    """The sentence for an outcome; an outcome this table does not know is shown as it is,
    hyphens made spaces ('apple-checksum-matched' -> 'apple checksum matched')."""
    return PLAIN.get(outcome) or outcome.replace("-", " ").capitalize() + "."


def tone(outcome: str, severity: str) -> str:
    """bad | warn | good | neutral: the colour a report gives an outcome's count."""
    if outcome in NEUTRAL and severity == "info":
        return "neutral"
    return {"error": "bad", "warning": "warn"}.get(severity, "good")
