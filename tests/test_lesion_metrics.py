"""Lesion-level figures on hand-made cases: FROC sensitivity at fixed false positives per image,
the centre-hit rule, duplicate hits, and lesion-wise Dice."""

from __future__ import annotations

import numpy as np
import pytest

from bench.tasks.lesion_metrics import froc, lesion_dice


def test_froc_counts_lesions_found_against_false_positives_per_image():
    gt = [np.array([[10, 10, 14, 14], [40, 40, 50, 50]]), np.array([[5, 5, 8, 8]]), np.zeros((0, 4))]
    det = [np.array([[11, 11, 13, 13], [41, 42, 49, 48], [42, 41, 48, 49], [70, 70, 75, 75]]),  # 2 hits, 1 duplicate, 1 FP
           np.array([[30, 30, 33, 33]]),  # misses its lesion: FP
           np.array([[0, 0, 3, 3]])]  # lesion-free image: FP
    scores = [np.array([0.9, 0.8, 0.7, 0.6]), np.array([0.5]), np.array([0.95])]
    curve = froc(gt, det, scores)
    # thresholds 0.95 (FP), 0.9 (TP), 0.8 (TP), 0.6 (FP), 0.5 (FP); the duplicate at 0.7 counts as nothing
    np.testing.assert_allclose(curve.thresholds, [0.95, 0.9, 0.8, 0.6, 0.5])
    np.testing.assert_allclose(curve.sensitivity, [0, 1 / 3, 2 / 3, 2 / 3, 2 / 3])
    np.testing.assert_allclose(curve.fp_per_image, [1 / 3, 1 / 3, 1 / 3, 2 / 3, 1.0])
    assert curve.at(0.5) == (pytest.approx(2 / 3), 0.8) and curve.at(1.0)[0] == pytest.approx(2 / 3)
    assert curve.at(0.1) == (0.0, float("inf"))
    found = curve.hits(0.8)
    assert [f.tolist() for f in found] == [[True, True], [False], []]


def test_a_tiny_lesion_is_hit_by_a_detection_centred_on_it_whatever_the_iou():
    gt = [np.array([[20, 20, 22, 22]])]  # 2 px lesion
    det = [np.array([[15, 15, 27, 27]])]  # IoU 4/144, centre on the lesion
    assert froc(gt, det, [np.array([0.3])]).at(1.0)[0] == 1.0


def test_lesion_dice_scores_each_lesion_against_the_components_touching_it():
    gt = np.zeros((20, 20), np.uint8)
    gt[2:6, 2:6] = 1  # 16 px, found exactly
    gt[10:14, 10:14] = 1  # 16 px, half covered by a prediction twice its size
    gt[17:19, 2:4] = 1  # missed
    pred = np.zeros_like(gt)
    pred[2:6, 2:6] = 1
    pred[10:14, 12:20] = 1  # 32 px, 8 overlap
    assert lesion_dice(gt, pred) == [1.0, pytest.approx(2 * 8 / (16 + 32)), 0.0]
