"""ketch-registry: an OCI Distribution v1.1 server."""
