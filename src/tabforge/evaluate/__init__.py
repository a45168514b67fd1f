"""The evaluation stored beside each version (``evaluation.json``), computed through the
ONNX graph: metrics, curves, confusion, calibration, thresholds, residuals, cluster
profiles, permutation importance per original column, and portability to another runtime.
numpy only: the server renders reports and never loads scikit-learn.
"""

from tabforge.evaluate.build import build_evaluation, evaluate_frame, evaluate_model

__all__ = ["build_evaluation", "evaluate_frame", "evaluate_model"]
