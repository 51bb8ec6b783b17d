"""rnnlab's Optuna sweeper for Hydra; see ``optuna_sweeper.py``."""
