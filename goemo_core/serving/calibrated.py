"""Calibrated predictions: any predictor's probabilities rescaled by the temperature fitted on the run's validation
probabilities (see goemo_core.evaluation.calibration). The most probable class never changes, and a multi-label
run's thresholds are moved through the same map, so its predicted labels do not change either: only how sure the
probabilities say the model is."""

from __future__ import annotations

from typing import Sequence

import torch

from ..evaluation.calibration import apply_temperature, ensure_calibration, scaled_thresholds
from ..runs.folder import Run
from .predict import describe_predictions


class CalibratedPredictor:
    """Wraps a predictor (PyTorch, ensemble or ONNX) with a temperature."""

    def __init__(self, predictor, temperature: float):
        self.inner, self.temperature = predictor, float(temperature)
        self.task, self.tokenizer = predictor.task, predictor.tokenizer
        self.max_length, self._unk = predictor.max_length, predictor._unk
        inner_thresholds = getattr(predictor, "thresholds", None)
        self.thresholds = None if inner_thresholds is None else scaled_thresholds(inner_thresholds, self.temperature)

    def probabilities(self, texts: Sequence[str]) -> torch.Tensor:
        raw = self.inner.probabilities(texts)
        return torch.from_numpy(apply_temperature(raw.double().numpy(), self.temperature, self.task.multi_label))

    def predict(self, texts: Sequence[object]) -> list[dict]:
        return [{**result, "temperature": self.temperature} for result in describe_predictions(self, texts)]


def temperature_of(run: Run) -> float:
    """The run's fitted temperature, computed on first request from its stored validation probabilities."""
    return float(ensure_calibration(run)["temperature"])


def calibrated(predictor, run: Run) -> CalibratedPredictor:
    return CalibratedPredictor(predictor, temperature_of(run))
