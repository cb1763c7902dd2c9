"""Pictures of runs and samples; drawer modules register by data kind when imported here."""

from gankit.viz import images  # noqa: F401  (registers the "images" drawers)
