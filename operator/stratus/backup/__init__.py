"""Volume backups in the object store, as Cinder's chunked backup drivers keep them.

A volume's image is cut into fixed-size chunks; each chunk that is not all zeroes is stored
once, under its SHA-256, and each backup is a manifest listing its chunks in order. An
incremental backup uploads only the chunks its parent does not list, and a restore checks
every chunk it writes against its digest, so a restored volume is the backed-up one byte for
byte. Backups share chunks, so removing one removes only the chunks no other manifest lists.
"""
