"""Docker-compatible networks: the network and endpoint model, IPAM, sandboxes
(network namespaces), the bridge driver (CNI plugins for the plumbing), port
publishing with kernel NAT, and the embedded DNS server of user-defined networks.

``NetworkService`` (``ketch.networks.service``) is the one entry point; the other
modules each own one concern and are usable on their own in tests.
"""
