"""Image builds: the Dockerfile parser, the build context and the classic builder."""
