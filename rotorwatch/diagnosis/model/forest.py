"""Gradient-boosted trees as plain arrays: a version-independent model format.

A pickled scikit-learn model only loads under the scikit-learn (and numpy) version that wrote
it. The classifier is trained with scikit-learn's HistGradientBoostingClassifier and then
exported to flat arrays (JSON-serialisable), which :func:`predict_proba` evaluates with numpy
alone, all trees at once. Tests check the export against scikit-learn's own predictions.

This module must run on Python 3.10 (the SageMaker scikit-learn 1.4-2 image).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Forest:
    """All trees of a multi-class boosted model, concatenated.

    Node arrays are indexed globally; ``roots[t]`` is the first node of tree ``t`` and
    ``tree_class[t]`` the class whose raw score it adds to. A leaf's children point at itself,
    so every row can be pushed ``max_depth`` times without checking for leaves.
    """

    baseline: F64  # (n_classes,) raw score before any tree
    roots: I64  # (n_trees,)
    tree_class: I64  # (n_trees,)
    feature: I64  # (n_nodes,) 0 for leaves
    threshold: F64  # (n_nodes,) go left when x <= threshold
    missing_left: npt.NDArray[np.bool_]  # (n_nodes,) where NaN goes
    left: I64  # (n_nodes,)
    right: I64  # (n_nodes,)
    value: F64  # (n_nodes,) leaf value (0 for split nodes)
    max_depth: int

    def __post_init__(self) -> None:
        # Serving layouts, derived once: children[2 i] / [2 i + 1] are node i's left / right
        # child (one gather a level), and the tree -> class one-hot sums leaves per class.
        children = np.stack([self.left, self.right], axis=1).reshape(-1).astype(np.intp)
        one_hot = np.equal.outer(self.tree_class, np.arange(self.baseline.size))
        object.__setattr__(self, "_children", children)
        object.__setattr__(self, "_feature", self.feature.astype(np.intp))
        object.__setattr__(self, "_roots", self.roots.astype(np.intp))
        object.__setattr__(self, "_one_hot", one_hot.astype(np.float64))

    @property
    def n_classes(self) -> int:
        return int(self.baseline.size)

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline.tolist(),
            "roots": self.roots.tolist(),
            "tree_class": self.tree_class.tolist(),
            "feature": self.feature.tolist(),
            "threshold": [_json_float(v) for v in self.threshold.tolist()],
            "missing_left": self.missing_left.astype(int).tolist(),
            "left": self.left.tolist(),
            "right": self.right.tolist(),
            "value": self.value.tolist(),
            "max_depth": self.max_depth,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Forest:
        return cls(
            baseline=np.asarray(d["baseline"], dtype=np.float64),
            roots=np.asarray(d["roots"], dtype=np.int64),
            tree_class=np.asarray(d["tree_class"], dtype=np.int64),
            feature=np.asarray(d["feature"], dtype=np.int64),
            threshold=np.asarray(
                [np.inf if v == "inf" else v for v in d["threshold"]], dtype=np.float64
            ),
            missing_left=np.asarray(d["missing_left"], dtype=bool),
            left=np.asarray(d["left"], dtype=np.int64),
            right=np.asarray(d["right"], dtype=np.int64),
            value=np.asarray(d["value"], dtype=np.float64),
            max_depth=int(d["max_depth"]),
        )


def _json_float(v: float) -> float | str:
    # JSON has no infinity; scikit-learn uses +inf thresholds for "everything goes left".
    return "inf" if v == np.inf else v


def export_hist_gradient_boosting(clf: Any) -> Forest:
    """Flatten a fitted multi-class ``HistGradientBoostingClassifier`` (numeric features only)."""
    if getattr(clf, "is_categorical_", None) is not None and np.any(clf.is_categorical_):
        raise ValueError("categorical features are not supported by the exported format")
    n_classes = int(clf.n_trees_per_iteration_)
    if n_classes < 3:
        raise ValueError("export supports multi-class models (softmax) only")
    feature, threshold, missing, left, right, value = [], [], [], [], [], []
    roots, tree_class = [], []
    offset = 0
    max_depth = 0
    for iteration in clf._predictors:
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            n = len(nodes)
            roots.append(offset)
            tree_class.append(k)
            leaf = nodes["is_leaf"].astype(bool)
            idx = np.arange(n)
            feature.append(np.where(leaf, 0, nodes["feature_idx"]))
            threshold.append(np.where(leaf, np.inf, nodes["num_threshold"]))
            missing.append(nodes["missing_go_to_left"].astype(bool))
            left.append(np.where(leaf, idx, nodes["left"]) + offset)
            right.append(np.where(leaf, idx, nodes["right"]) + offset)
            value.append(np.where(leaf, nodes["value"], 0.0))
            max_depth = max(max_depth, int(nodes["depth"].max()))
            offset += n
    return Forest(
        baseline=np.asarray(clf._baseline_prediction, dtype=np.float64).reshape(-1),
        roots=np.asarray(roots, dtype=np.int64),
        tree_class=np.asarray(tree_class, dtype=np.int64),
        feature=np.concatenate(feature).astype(np.int64),
        threshold=np.concatenate(threshold).astype(np.float64),
        missing_left=np.concatenate(missing),
        left=np.concatenate(left).astype(np.int64),
        right=np.concatenate(right).astype(np.int64),
        value=np.concatenate(value).astype(np.float64),
        max_depth=max_depth,
    )


def raw_scores(forest: Forest, x: F64) -> F64:
    """Raw (pre-softmax) class scores, shape (n_rows, n_classes), for features ``x`` (n, k)."""
    n, k = x.shape
    # Gather from the flattened matrix: row r, feature f is at r * k + f.
    flat = np.ascontiguousarray(x, dtype=np.float64).reshape(-1)
    base = (np.arange(n, dtype=np.intp) * k)[:, None]
    children: npt.NDArray[np.intp] = forest._children  # type: ignore[attr-defined]
    feature: npt.NDArray[np.intp] = forest._feature  # type: ignore[attr-defined]
    node = np.broadcast_to(forest._roots, (n, forest.roots.size))  # type: ignore[attr-defined]
    has_nan = bool(np.isnan(flat).any())
    for _ in range(forest.max_depth):
        xv = flat.take(base + feature.take(node))
        go_right = xv > forest.threshold.take(node)
        if has_nan:
            # NaN compares False: send it where training sent missing values.
            nan = np.isnan(xv)
            go_right = np.where(nan, ~forest.missing_left.take(node), go_right)
        node = children.take(2 * node + go_right)
    out = forest.value.take(node) @ forest._one_hot  # type: ignore[attr-defined]
    return np.asarray(out + forest.baseline[None, :])


def predict_proba(forest: Forest, x: F64) -> F64:
    """Class probabilities (softmax of the raw scores), shape (n_rows, n_classes)."""
    z = raw_scores(forest, x)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))
