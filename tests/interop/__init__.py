"""Interop between ketch-registry, ketchd and the real Docker clients and engines."""
