"""``--change`` instructions of ``docker import`` (and ``docker commit``).

They are Dockerfile lines restricted to the instructions that only touch
the image config, applied by the builder's own instruction code as moby's
``BuildFromConfig`` does: see :func:`ketch.build.config.apply_changes`.
This name stays for the image service's import.
"""

from __future__ import annotations

from ketch.build.config import apply_changes

__all__ = ["apply_changes"]
