"""The daemon's registry client: pull and push over the OCI distribution API."""
