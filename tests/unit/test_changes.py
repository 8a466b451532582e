from __future__ import annotations

import pytest

from ketch.errors import InvalidArgument
from ketch.images.changes import apply_changes


def test_all_instructions() -> None:
    config = apply_changes({}, [
        'CMD ["sh", "-c", "echo hi"]',
        "ENTRYPOINT /bin/init --flag",
        "ENV A=1 B=\"two words\"",
        "ENV LEGACY value with spaces",
        "ENV A=override",
        "EXPOSE 80 53/udp",
        'LABEL maintainer="someone" version=1',
        "USER nobody:nogroup",
        'VOLUME ["/data", "/logs"]',
        "WORKDIR /srv",
        "WORKDIR app",
        "STOPSIGNAL SIGQUIT",
        "ONBUILD RUN echo child",
    ])
    assert config == {
        "Cmd": ["sh", "-c", "echo hi"],
        "Entrypoint": ["/bin/sh", "-c", "/bin/init --flag"],
        "Env": ["A=override", "B=two words", "LEGACY=value with spaces"],  # in place, as Docker
        "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
        "Labels": {"maintainer": "someone", "version": "1"},
        "User": "nobody:nogroup",
        "Volumes": {"/data": {}, "/logs": {}},
        "WorkingDir": "/srv/app",
        "StopSignal": "SIGQUIT",
        "OnBuild": ["RUN echo child"],
    }


def test_shell_form_cmd() -> None:
    assert apply_changes({}, ["CMD echo hello"])["Cmd"] == ["/bin/sh", "-c", "echo hello"]


@pytest.mark.parametrize("change, message", [
    ("RUN echo no", "run is not a valid change command"),
    ("FROM busybox", "from is not a valid change command"),
    ("HEALTHCHECK --bogus=1 CMD true", "Unknown flag: bogus"),
    ("EXPOSE 99999", "invalid containerPort"),
    ("ENV =x", "can not be blank"),
])
def test_rejected(change: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        apply_changes({}, [change])


def test_healthcheck() -> None:
    config = apply_changes({}, ["HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://x/"])
    assert config["Healthcheck"] == {"Interval": 30_000_000_000, "Retries": 3,
                                     "Test": ["CMD-SHELL", "curl -f http://x/"]}
    exec_form = apply_changes({}, ['HEALTHCHECK CMD ["true"]'])
    assert exec_form["Healthcheck"] == {"Test": ["CMD", "true"]}
    assert apply_changes({}, ["HEALTHCHECK NONE"])["Healthcheck"] == {"Test": ["NONE"]}
