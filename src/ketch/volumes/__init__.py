"""Volumes: the model, the local driver, the service, and their part in a
container's life (``attach``). See ``service.py`` for Docker's rules.

The package itself imports nothing: :mod:`ketch.volumes.sysmount` (the
mount(2) wrapper) is also used by the container root filesystem code, which
the volume service depends on, so importing the service here would make a
cycle. Import the modules (``ketch.volumes.service``, ...) directly.
"""
