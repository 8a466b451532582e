"""Request bodies that are archives are first written to a file: the work on
them then never depends on the client's pace, and a truncated upload is
seen before anything is stored."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

CHUNK = 1 << 20


@asynccontextmanager
async def spooled_body(request: web.Request, tmp_dir: Path) -> AsyncIterator[Path]:
    """Yield the path of a temp file holding the whole body; removed afterwards."""
    fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await request.content.read(CHUNK):
                await asyncio.to_thread(out.write, chunk)
        yield path
    finally:
        path.unlink(missing_ok=True)
