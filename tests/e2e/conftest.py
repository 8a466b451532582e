"""Fixtures for the end-to-end conformance tests.

``engine`` is parametrised: every test using it runs once on the reference
Docker (``[refdocker]``) and once on ketchd (``[ketchd]``). ``conform``
runs a scenario on that engine from the baseline image set and, for
ketchd, compares its transcript with the reference's.

``KETCH_TEST_ENGINES=refdocker`` (comma-separated) limits the parameters,
e.g. to check the tests alone while ketchd is being written.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.conformance import Baseline, ConformanceRunner, Scenario
from support.engines import E2E_ENGINES, Engine
from support.images import OfflineImages


@pytest.fixture(scope="session")
def baseline(
    refdocker: Engine, offline_images: OfflineImages, tmp_path_factory: pytest.TempPathFactory
) -> Baseline:
    return Baseline.create(refdocker, offline_images, tmp_path_factory.mktemp("baseline"))


@pytest.fixture(scope="session")
def runner(
    refdocker: Engine,
    offline_images: OfflineImages,
    baseline: Baseline,
    tmp_path_factory: pytest.TempPathFactory,
) -> ConformanceRunner:
    return ConformanceRunner(refdocker, offline_images, baseline, tmp_path_factory.mktemp("runs"))


@pytest.fixture(params=E2E_ENGINES)
def engine(request: pytest.FixtureRequest) -> Engine:
    """The engine under test: the reference dockerd, then ketchd."""
    engine: Engine = request.getfixturevalue(request.param)
    return engine


@pytest.fixture
def conform(
    request: pytest.FixtureRequest, runner: ConformanceRunner, engine: Engine
) -> Callable[[Scenario], None]:
    """``conform(scenario)``: run it here; on ketchd, compare with Docker."""
    params = getattr(request.node, "callspec", None)
    given = params.params if params else {}
    extra = sorted((k, repr(v)) for k, v in given.items() if k != "engine")
    key = f"{request.node.module.__name__}::{request.node.originalname}{extra}"

    def check(scenario: Scenario) -> None:
        runner.check(key, engine, scenario)

    return check
