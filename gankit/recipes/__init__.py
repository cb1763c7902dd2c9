"""Recipes, each registered by name in ``RECIPES``."""

from gankit.recipes import cyclegan, infogan, plain, progressive, theory  # noqa: F401  (registers)
from gankit.recipes.base import RECIPES, Phase, Recipe

__all__ = ["RECIPES", "Phase", "Recipe"]
