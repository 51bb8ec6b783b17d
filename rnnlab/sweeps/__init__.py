"""Hyperparameter search with Optuna, run as a Hydra sweeper (``hparams_search=<name>``).

``space`` turns Hydra's sweep syntax into Optuna distributions, ``search`` runs the study (ask a
batch of trials, launch them as Hydra jobs, tell the study what each job left behind), ``trial``
is the job's side (which trial am I, report and prune), and ``summary`` writes and prints what a
sweep ends with. The Hydra plugin itself is a thin class in ``hydra_plugins/``.
"""
