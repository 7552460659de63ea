"""Training, saving and loading lead-scoring models.

    train_model(records, mapping, model_dir=...) -> TrainResult   compete, calibrate, save, promote
    load_model(model_dir) -> ScoringModel                         the live version
    restore_model(model_dir, version) -> ScoringModel             make an earlier version live
"""

from connector.model.artifacts import load_model, load_version, restore_model, versions
from connector.model.train import TrainResult, train_model
from connector.model.scoring import LeadScore, ScoringModel

__all__ = ["LeadScore", "ScoringModel", "TrainResult", "load_model", "load_version",
           "restore_model", "train_model", "versions"]
