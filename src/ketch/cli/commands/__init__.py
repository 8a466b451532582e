"""The commands of ``ketch``, one module per group (images, system)."""
