"""A system by name: the generator interface, registry, backends and the shared cached service."""
