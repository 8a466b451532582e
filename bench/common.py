"""What both benchmarks share: timing and memory readings of processes."""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "tests") not in sys.path:
    sys.path.insert(0, str(REPO / "tests"))

from support.engines import Engine, EngineSet  # noqa: E402


def timed(action: Callable[[], object], runs: int,
          before: Callable[[], object] | None = None) -> float:
    """Median wall time of ``action`` over ``runs`` (``before`` runs untimed)."""
    samples = []
    for _ in range(runs):
        if before is not None:
            before()
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _status_field(pids: list[int], path: str, field: str) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
                if line.startswith(field):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def rss_kib(pids: list[int]) -> int:
    return _status_field(pids, "status", "VmRSS:")


def pss_kib(pids: list[int]) -> int:
    """Proportional set size: shared library pages split among their users."""
    return _status_field(pids, "smaps_rollup", "Pss:")


def daemon_pids(engine: Engine) -> list[int]:
    """The daemon, plus the containerd a reference dockerd runs."""
    extra = getattr(engine, "containerd_pid", None)
    return [engine.pid, *([extra] if extra else [])]


def print_table(title: str, ours: dict[str, float], theirs: dict[str, float]) -> None:
    print(f"{title:42} {'ketch':>10} {'docker':>10} {'ratio':>7}")
    for key, value in ours.items():
        ratio = value / theirs[key] if theirs[key] else float("nan")
        print(f"{key:42} {value:>10.3f} {theirs[key]:>10.3f} {ratio:>7.2f}")


@contextmanager
def engine_session() -> Iterator[tuple[Path, EngineSet, list[str]]]:
    """A temp root and the engines started in it; on exit every engine is
    stopped (problems appended to the yielded list) and the root removed."""
    root = Path(tempfile.mkdtemp(prefix="kb-", dir="/tmp"))
    engines = EngineSet(root)
    problems: list[str] = []
    try:
        yield root, engines, problems
    finally:
        problems.extend(engines.stop_all())
        shutil.rmtree(root, ignore_errors=True)


def finish(title: str, ours: dict[str, float], theirs: dict[str, float],
           problems: list[str]) -> int:
    """Print the table; exit status 1 when an engine did not stop cleanly."""
    print_table(title, ours, theirs)
    if problems:
        print("engines did not stop cleanly:", *problems, sep="\n")
        return 1
    return 0
