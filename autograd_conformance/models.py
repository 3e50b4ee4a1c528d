"""Helpers the suites share for reading engine modules without guessing torch's conventions.

A Linear layer's weight and bias are found by role (``B.linear_parameters``), and its weight is
turned into one documented orientation here: ``W`` of shape (n_in, n_out), so that a layer
computes ``x @ W + b`` whatever layout the engine stores (``B.linear_layout``)."""

from __future__ import annotations

import numpy as np


def as_in_out(B, array: np.ndarray) -> np.ndarray:
    """A Linear weight (or its gradient) as stored by the engine -> shape (n_in, n_out)."""
    return array.T if B.linear_layout == "out_in" else array


def linear_values(B, layer) -> tuple[np.ndarray, np.ndarray]:
    """(W as (n_in, n_out), b; zeros when the layer has no bias), float64."""
    weight, bias = B.linear_parameters(layer)
    w = as_in_out(B, np.array(B.to_numpy(weight), dtype=np.float64))
    b = np.zeros(w.shape[1]) if bias is None else np.array(B.to_numpy(bias), dtype=np.float64)
    return w, b


def linear_forward(B, layer, x: np.ndarray) -> np.ndarray:
    """What the layer computes from its current values, in float64 numpy."""
    w, b = linear_values(B, layer)
    return x @ w + b
