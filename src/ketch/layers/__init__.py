"""Layer snapshots: unpack image layers into overlayfs-ready directories.

- ``compression``: recognise gzip/bzip2/xz/zstd/plain from magic bytes and
  stream-decompress (``open_decompressed``).
- ``extract``: unpack an uncompressed layer tar into a directory inside a
  chroot'ed child process, converting whiteouts the way overlay2 stores
  them (``extract_layer`` -> ``ExtractResult``).
- ``store``: one directory per chainID with short ``l/`` links for overlay
  mount options, atomic create, crash repair (``LayerStore``).

Nothing is imported here, so that ``_unpack_child`` (run as a script) and
the CLI pay for none of it.
"""
