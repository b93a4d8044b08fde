"""Files pcapmtu writes for the user (a report page, JUnit XML): written whole or not at all.

The text goes to a temporary file beside the target, which then replaces the target in one
step (`os.replace`): an existing file is never left truncated or half-written, whether the
report fails to build, the disk fills or the run is interrupted.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically, with the mode a new file would get (or the
    mode of the file it replaces)."""
    target = Path(path)
    data = text.encode("utf-8")
    try:
        mode = target.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
