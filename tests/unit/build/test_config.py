"""The run-config edits shared by the builder and ``--change`` (ketch.build.config).

Docker's ``BuildFromConfig`` runs the builder's own dispatchers on the
change lines, so the expectations here are those of a Dockerfile: variables
expanded from the config's Env (as earlier lines left it), port ranges,
ENV replacing a variable in place, ENTRYPOINT dropping an earlier Cmd.
tests/api/test_commit.py checks the same against Docker itself.
"""

from __future__ import annotations

from typing import Any

import pytest

from ketch.build.config import RunConfig, apply_changes, apply_instruction, exposed_ports
from ketch.build.dockerfile import parse_onbuild_trigger
from ketch.errors import InvalidArgument


def test_changes_expand_variables_from_the_config_env() -> None:
    config: dict[str, Any] = {"Env": ["PATH=/bin", "PORT=8000", "DIR=/srv"]}
    apply_changes(config, [
        "EXPOSE $PORT ${PORT}-8002/udp",
        "ENV PORT=9000 NEW=$DIR/x",
        "LABEL port=$PORT dir=${DIR:-none} missing=${NOPE:-dflt}",
        "WORKDIR $DIR",
        "WORKDIR app",
        "VOLUME $DIR/data",
        "USER ${PORT}",
        "STOPSIGNAL SIG$NOPE${NOPE:-TERM}",
        'CMD ["echo", "$PORT"]',
    ])
    assert config == {
        "Env": ["PATH=/bin", "PORT=9000", "DIR=/srv", "NEW=/srv/x"],
        "ExposedPorts": {"8000/tcp": {}, "8000/udp": {}, "8001/udp": {}, "8002/udp": {}},
        "Labels": {"port": "9000", "dir": "/srv", "missing": "dflt"},
        "WorkingDir": "/srv/app",
        "Volumes": {"/srv/data": {}},
        "User": "9000",
        "StopSignal": "SIGTERM",
        "Cmd": ["echo", "$PORT"],  # exec form is never expanded
    }


def test_env_replaces_in_place_and_legacy_form_keeps_spaces() -> None:
    config = apply_changes({}, ["ENV A=1 B=2", "ENV LEGACY value with spaces", "ENV A=3"])
    assert config["Env"] == ["A=3", "B=2", "LEGACY=value with spaces"]


def test_lines_are_one_dockerfile_with_directives_and_continuations() -> None:
    config = apply_changes({}, ["# escape=`", "LABEL a=x `", "  b=y c=C:\\dir"])
    assert config["Labels"] == {"a": "x", "b": "y", "c": "C:\\dir"}
    config = apply_changes({}, ["LABEL a=x \\", "  b=y c=C:\\dir"])
    assert config["Labels"] == {"a": "x", "b": "y", "c": "C:dir"}


@pytest.mark.parametrize("changes, entrypoint, cmd", [
    (['ENTRYPOINT ["/x"]'], ["/x"], None),
    (["ENTRYPOINT /x"], ["/bin/sh", "-c", "/x"], None),
    (['CMD ["c"]', 'ENTRYPOINT ["/x"]'], ["/x"], ["c"]),
    (["CMD", 'ENTRYPOINT ["/x"]'], ["/x"], None),  # an empty CMD does not count
    (["ENTRYPOINT []"], None, None),
])
def test_entrypoint_drops_the_cmd_unless_a_cmd_came_first(
        changes: list[str], entrypoint: list[str] | None, cmd: list[str] | None) -> None:
    config = apply_changes({"Cmd": ["old"], "ArgsEscaped": True}, changes)
    assert (config["Entrypoint"], config["Cmd"]) == (entrypoint, cmd)
    assert "ArgsEscaped" not in config


def test_a_stage_shell_and_cmd_set_carry_across_instructions() -> None:
    state = RunConfig({})
    for text in ['SHELL ["/bin/bash", "-e", "-c"]', "CMD run it", "ENTRYPOINT go"]:
        apply_instruction(state, parse_onbuild_trigger(text))
    assert state.config == {"Shell": ["/bin/bash", "-e", "-c"],
                            "Cmd": ["/bin/bash", "-e", "-c", "run it"],
                            "Entrypoint": ["/bin/bash", "-e", "-c", "go"]}
    assert state.cmd_set


@pytest.mark.parametrize("change, message", [
    ("RUN echo no", "run is not a valid change command"),
    ("FROM busybox", "from is not a valid change command"),
    ("SHELL [\"/bin/bash\"]", "shell is not a valid change command"),
    ("HEALTHCHECK --bogus=1 CMD true", "Unknown flag: bogus"),
    ("EXPOSE 99999", "invalid containerPort: 99999"),
    ("EXPOSE 9-8", "invalid containerPort: 9-8"),
    ("EXPOSE 80/xtp", "invalid proto: xtp"),
    ("EXPOSE 1.2.3:80:80", "invalid IP address: 1.2.3"),
    ("EXPOSE 1-3:80-81", "invalid ranges specified for container and host Ports: 80-81 and 1-3"),
    ("ENV =x", "can not be blank"),
    ("STOPSIGNAL SIGNOPE", "Invalid signal: SIGNOPE"),
    ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
    ("   ", "file with no instructions"),
])
def test_rejected(change: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        apply_changes({}, [change])


def test_nothing_applies_when_a_later_line_is_refused() -> None:
    config: dict[str, Any] = {"Env": ["A=1"]}
    with pytest.raises(InvalidArgument):
        apply_changes(config, ["ENV A=2", "RUN true"])
    assert config == {"Env": ["A=1"]}


def test_exposed_ports_of_every_spec_form() -> None:
    assert exposed_ports(["80", "8000-8002", "53/UDP", "127.0.0.1:8080:81",
                          "[::1]:90-91:90-91/sctp", "7000:70", "0"]) == [
        "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp", "53/udp", "81/tcp",
        "90/sctp", "91/sctp", "70/tcp", "0/tcp"]


def test_healthcheck_keeps_only_set_durations() -> None:
    config = apply_changes({}, ["HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://x/"])
    assert config["Healthcheck"] == {"Interval": 30_000_000_000, "Retries": 3,
                                     "Test": ["CMD-SHELL", "curl -f http://x/"]}
    assert apply_changes({}, ["HEALTHCHECK NONE"])["Healthcheck"] == {"Test": ["NONE"]}
