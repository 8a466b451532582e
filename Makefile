# Every target installs what it needs when it is missing, so that a fresh
# Debian 12 machine (as root) goes from clone to demo or test in one command:
#
#   make demo    build the images, start ketchd, import and list them
#   make test    ruff, mypy and the whole test suite
#   make images  only build the offline test images (.cache/images)
#   make stop    stop the demo daemon
#   make bench   benchmarks, ketchd against Docker 20.10 in one run
#
# Nothing is installed twice: apt packages are checked with dpkg first (one
# `apt-get update` only when something is missing) and the virtualenv is
# rebuilt only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
IMAGES := .cache/images

# What the engine, its tests and the reference engine the tests compare
# against need from Debian. docker.io (with containerd) is Docker 20.10 and
# docker-registry is the CNCF distribution registry, both run by the tests
# on their own sockets, ports and data roots. A policy-rc.d keeps apt from
# starting them as system services while they are installed.
APT_PACKAGES := python3 python3-venv busybox-static runc conmon gcc libc6-dev \
	tmux docker.io containerd skopeo iptables docker-registry curl \
	containernetworking-plugins iproute2 docker-compose

# Where `make demo` runs its daemon (the engine's defaults).
KETCH_SOCK ?= /run/ketch.sock
KETCH_DATA ?= /var/lib/ketch
KETCH_EXEC ?= /run/ketch
KETCH_PIDFILE ?= $(KETCH_EXEC)/ketchd.pid
export KETCH_SOCK KETCH_DATA KETCH_EXEC KETCH_PIDFILE

.PHONY: all deps apt venv images lint test demo stop clean bench

all: test

deps: apt venv

apt:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg -s $$p 2>/dev/null | grep -q '^Status: install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing$$missing"; \
	  policy=/usr/sbin/policy-rc.d; made_policy=""; \
	  if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' > $$policy; \
	    chmod +x $$policy; made_policy=1; fi; \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  rc=$$?; [ -n "$$made_policy" ] && rm -f $$policy; exit $$rc; \
	fi

# The stamp depends on pyproject.toml: editing dependencies reinstalls.
$(VENV)/.installed: pyproject.toml | apt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

$(IMAGES)/hello-world.tar $(IMAGES)/busybox.tar &: scripts/mkimages testimages/hello/hello.c | apt
	$(PYTHON) scripts/mkimages $(IMAGES)

images: $(IMAGES)/hello-world.tar $(IMAGES)/busybox.tar

lint: venv
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy

# pytest exits 5 when it collected no test: that is a failure here too.
test: deps lint
	@rc=0; $(PY) -m pytest -q || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$rc

# Side-by-side benchmarks against Debian's Docker 20.10 (ratios, not tests).
bench: deps
	$(PY) bench/images_bench.py
	$(PY) bench/containers_bench.py
	$(PY) bench/build_bench.py

demo: deps images
	scripts/demo

stop:
	scripts/demo stop

clean:
	rm -rf .cache build .pytest_cache .mypy_cache .ruff_cache
