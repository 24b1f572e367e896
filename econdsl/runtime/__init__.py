"""The econdsl runtime: ``load`` a model, make vectorised environments, adapt them to PettingZoo."""

from .env import Env
from .model import Model, load

__all__ = ["Env", "Model", "load"]
