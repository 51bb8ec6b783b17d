"""rnnlab: recurrent sequence models as comparable Lightning + Hydra experiments."""

__version__ = "0.1.0"
