"""The OCI runtime interface and its drivers (conmon + runc by default)."""
