"""The ``ketch`` command line: Docker CLI 28 compatible commands over ``ketch.client``."""
