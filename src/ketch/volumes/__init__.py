"""Volumes: the model, the local driver, the service, and their part in a
container's life (``attach``). See ``service.py`` for Docker's rules."""

from ketch.volumes.model import ANONYMOUS_LABEL, VolumeRecord
from ketch.volumes.service import PruneReport, Volume, VolumeService, VolumeUsage

__all__ = ["ANONYMOUS_LABEL", "PruneReport", "Volume", "VolumeRecord", "VolumeService",
           "VolumeUsage"]
