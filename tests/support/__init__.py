"""Shared helpers for ketch's tests: real engines, real images, real CLIs.

- ``engines``: start and stop a ketchd or a reference dockerd on temp dirs.
- ``images``: build the offline test images and import them into an engine.
- ``dockercli``: run the real docker CLI against an engine.
- ``unixhttp``: raw HTTP requests on an engine's unix socket.
- ``leaks``: find processes and mounts left behind under a directory.
- ``conformance``: run one command sequence on two engines and compare.

The pytest fixtures that wrap these live in ``tests/conftest.py``.
"""
