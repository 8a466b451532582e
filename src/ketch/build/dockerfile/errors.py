"""The one error kind the Dockerfile package raises.

Docker reports Dockerfile problems with three different shapes of message,
depending on the layer that noticed them, and users (and scripts, and
conformance tests) see that text verbatim in ``docker build``'s output:

- the line parser: ``failed to parse Dockerfile: <reason>`` (no line number);
- the instruction parser: ``dockerfile parse error line <n>: <reason>``;
- everything else (stage bookkeeping, expansion at build time): the bare
  ``<reason>``.

``DockerfileError`` keeps the full message exactly as Docker 20.10's classic
builder words it, plus the bare reason and the line (when one is known), so
that callers can log or re-wrap it without parsing text.
"""

from __future__ import annotations

from ketch.errors import InvalidArgument


class DockerfileError(InvalidArgument):
    """A Dockerfile could not be parsed, or an instruction could not be used.

    ``message`` (and ``str()``) is what the docker CLI user reads;
    ``reason`` is the message without Docker's location prefix; ``line`` is
    the 1-based line where the offending instruction starts, or ``None``.
    """

    def __init__(self, message: str, *, line: int | None = None, reason: str | None = None):
        super().__init__(message)
        self.line = line
        self.reason = reason if reason is not None else message

    def with_line(self, line: int) -> DockerfileError:
        """The same error attached to ``line`` (message unchanged)."""
        return DockerfileError(self.message, line=line, reason=self.reason)


def parse_failure(name: str, reason: str, line: int | None) -> DockerfileError:
    """An error of the line parser, as the classic builder words it."""
    return DockerfileError(f"failed to parse {name}: {reason}", line=line, reason=reason)


def instruction_failure(line: int, reason: str) -> DockerfileError:
    """An error of the instruction parser, as the classic builder words it.

    Docker 23+ says ``dockerfile parse error on line``; 20.10 (our reference
    engine) says ``dockerfile parse error line``.
    """
    return DockerfileError(
        f"dockerfile parse error line {line}: {reason}", line=line, reason=reason
    )
