"""Pure data shared by the engine and the registry: digests, references, media types,
image manifests/configs. No I/O lives here."""
