"""The scoring model: physically meaningful inputs, anomaly distance, fault classifier.

Serving (:class:`Model`, :func:`load_model`) needs numpy only and runs on Python 3.10 (the
SageMaker scikit-learn image); training (:mod:`rotorwatch.diagnosis.model.train`) needs scikit-learn.
"""

from rotorwatch.diagnosis.model.features import MODEL_FEATURES, feature_matrix
from rotorwatch.diagnosis.model.model import CARD_FILE, MODEL_FILE, Model, ModelError

__all__ = ["CARD_FILE", "MODEL_FEATURES", "MODEL_FILE", "Model", "ModelError", "feature_matrix"]
