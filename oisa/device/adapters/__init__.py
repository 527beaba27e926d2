"""oisa's built-in device adapters, one per native family. They register under the
``oisa.devices`` entry-point group (``pyproject.toml``) like any plug-in."""
