"""The experience model: learn from triage history how likely a new finding is a false positive.

Features are identity-level facts a triager reacts to (tool, rule, category, CWE, severity,
confidence, file type, whether the path looks like test code, whether a fix exists); the
model is a logistic regression over one-hot features (scikit-learn), trained on findings
people marked false positive (label 1) against findings that proved real: fixed
(mitigated), reopened or risk-accepted (label 0). Training holds out a stratified 25% and
reports accuracy on it next to the majority-class baseline, so a useless model shows.

The model only predicts. It closes nothing unless AIVA_FP_AUTO_CLOSE_THRESHOLD is set, and
then only findings whose likelihood is at or above it (see aiva.store.experience).
Models are pickled into AIVA's own database: loading one trusts that database.
"""

from __future__ import annotations

import io
import pickle
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MIN_SAMPLES = 20
MIN_PER_CLASS = 5
_TEST_PATH = re.compile(r"(^|/)(tests?|spec|specs|fixtures?|examples?|mocks?|testdata|__tests__)(/|$)", re.I)


def features(data: Mapping[str, Any]) -> dict[str, float]:
    """One-hot features of a finding (its normalized JSON, as stored)."""
    tool = str((data.get("tool") or {}).get("name") or "?").lower()
    out: dict[str, float] = {
        f"tool={tool}": 1.0,
        f"category={data.get('category')}": 1.0,
        f"severity={data.get('severity')}": 1.0,
        f"confidence={data.get('confidence')}": 1.0,
    }
    if data.get("rule_id"):
        out[f"rule={tool}:{data['rule_id']}"] = 1.0
    for cwe in data.get("cwes") or []:
        out[f"cwe={cwe.get('id')}"] = 1.0
    loc = data.get("location") or {}
    path = str(loc.get("file_path") or "")
    if path:
        ext = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
        out[f"ext={ext}"] = 1.0
        if _TEST_PATH.search(path):
            out["test_path"] = 1.0
    if data.get("vulnerability_ids"):
        out["has_vuln_id"] = 1.0
    if (data.get("component") or {}).get("fixed_version"):
        out["has_fix"] = 1.0
    if data.get("suppressed"):
        out["suppressed_by_tool"] = 1.0
    return out


@dataclass
class TrainedModel:
    """A fitted model with its held-out evaluation."""

    pipeline: Any
    samples: int
    positives: int
    accuracy: float
    baseline: float
    test_size: int

    def predict(self, datas: Sequence[Mapping[str, Any]]) -> list[float]:
        """False-positive likelihood (0-1) for each finding."""
        if not datas:
            return []
        proba = self.pipeline.predict_proba([features(d) for d in datas])
        return [float(p[1]) for p in proba]


def train(samples: Sequence[tuple[Mapping[str, Any], bool]], seed: int = 0) -> TrainedModel:
    """Fit on (finding data, is false positive) pairs; ValueError when there is too little history."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline

    positives = sum(1 for _, y in samples if y)
    negatives = len(samples) - positives
    if len(samples) < MIN_SAMPLES or positives < MIN_PER_CLASS or negatives < MIN_PER_CLASS:
        raise ValueError(
            f"not enough triage history to learn from: {positives} false positives and {negatives} confirmed "
            f"findings (need at least {MIN_SAMPLES} in all and {MIN_PER_CLASS} of each)"
        )
    x = [features(d) for d, _ in samples]
    y = [1 if label else 0 for _, label in samples]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y)
    pipe = make_pipeline(DictVectorizer(), LogisticRegression(max_iter=1000, C=1.0))
    pipe.fit(x_train, y_train)
    accuracy = float(pipe.score(x_test, y_test))
    majority = max(sum(y_test), len(y_test) - sum(y_test)) / len(y_test)
    pipe.fit(x, y)  # evaluated on the held-out split; the stored model uses all the history
    return TrainedModel(pipe, len(samples), positives, accuracy, majority, len(y_test))


def dumps(model: TrainedModel) -> bytes:
    """Serialise a model for the database."""
    buf = io.BytesIO()
    pickle.dump(model, buf, protocol=pickle.HIGHEST_PROTOCOL)
    return buf.getvalue()


def loads(blob: bytes) -> TrainedModel:
    """Load a model written by `dumps` (from AIVA's own database only)."""
    model = pickle.loads(blob)  # noqa: S301 - see module docstring
    if not isinstance(model, TrainedModel):
        raise TypeError("not an AIVA experience model")
    return model
