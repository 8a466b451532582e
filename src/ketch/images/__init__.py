"""Image service: resolve, list, inspect, tag, remove, prune, save, load, import."""
