"""History made before gatebook, brought into the ledger: TensorBoard event files, MLflow stores, history files.

``gatebook import tensorboard|mlflow|history`` (gatebook.cli.importers); see docs/import.md.
"""
