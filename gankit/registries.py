"""Every registry, with all built-in components imported so the registries are complete."""

from gankit import augment, data, nets, objectives, penalties, recipes  # noqa: F401  (registers)
from gankit.augment.base import AUGMENTS
from gankit.data.base import DATASETS
from gankit.nets.base import MODELS
from gankit.objectives.base import OBJECTIVES
from gankit.penalties import PENALTIES
from gankit.recipes.base import RECIPES

BY_KIND = {
    "data": DATASETS,
    "model": MODELS,
    "loss": OBJECTIVES,
    "recipe": RECIPES,
    "penalty": PENALTIES,
    "augment": AUGMENTS,
}
