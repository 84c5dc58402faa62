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


def _random_split(rng, n_images=40):
    gt, det, scores = [], [], []
    for _ in range(n_images):
        g = rng.uniform(0, 90, (rng.integers(0, 4), 2))
        gt.append(np.hstack([g, g + rng.uniform(2, 10, g.shape)]))
        hit = gt[-1][rng.random(len(g)) < 0.7] + rng.normal(0, 0.5, (1, 4))  # most lesions found, a little off
        fp = rng.uniform(0, 90, (rng.integers(0, 5), 2))
        det.append(np.vstack([hit, np.hstack([fp, fp + 4])]))
        scores.append(np.r_[rng.uniform(0.3, 1, len(hit)), rng.uniform(0, 0.8, len(fp))])
    return gt, det, scores


def test_froc_table_with_every_image_drawn_once_is_the_froc_itself():
    from bench.analysis.froc import FrocTable

    gt, det, scores = _random_split(np.random.default_rng(3))
    table, curve = FrocTable(gt, det, scores), froc(gt, det, scores)
    for rate in (0.1, 0.5, 1.0, 2.0):
        assert table.sensitivity(np.ones((1, len(gt))), rate)[0] == pytest.approx(curve.at(rate)[0])
    # doubling every image's weight is the same split
    assert table.sensitivity(np.full((1, len(gt)), 2.0), 1.0)[0] == pytest.approx(curve.at(1.0)[0])


def test_froc_table_reweights_images():
    from bench.analysis.froc import FrocTable

    gt = [np.array([[0, 0, 4, 4]]), np.array([[0, 0, 4, 4]])]
    det = [np.array([[1, 1, 3, 3]]), np.zeros((0, 4))]  # image 0 found, image 1 missed
    table = FrocTable(gt, det, [np.array([0.9]), np.zeros(0)])
    np.testing.assert_allclose(table.sensitivity(np.array([[1, 1], [2, 0], [0, 2]]), 1.0), [0.5, 1.0, 0.0])


def test_the_bootstrap_interval_of_sensitivity_brackets_its_point_value():
    from bench.analysis.curves import draws, interval
    from bench.analysis.froc import FrocTable
    from bench.tasks.lesion_metrics import SENSITIVITY_AT, froc

    gt, det, scores = _random_split(np.random.default_rng(5), 60)
    table, curve = FrocTable(gt, det, scores), froc(gt, det, scores)
    weights = draws(60, 200)
    for rate in SENSITIVITY_AT.values():
        low, high = interval(table.sensitivity(weights, rate))
        assert low <= curve.at(rate)[0] <= high and low < high
    assert curve.at(0.5)[0] <= curve.at(1.0)[0]


def test_lesions_found_are_counted_per_size_and_contrast_bin():
    from bench.tasks.lesion_metrics import found_by_bin

    records = [{"diameter_mm": 2.5, "contrast": -0.05}, {"diameter_mm": 9.0, "contrast": 0.25}, {"diameter_mm": 3.0, "contrast": 0.15}]
    row = found_by_bin(np.array([True, True, False]), records)
    assert (row["lesions"], row["found"]) == (3, 2)
    assert (row["lesions_small"], row["found_small"], row["lesions_large"], row["found_large"]) == (2, 1, 1, 1)
    assert (row["lesions_faint"], row["found_faint"], row["lesions_moderate"], row["found_moderate"]) == (1, 1, 1, 0)


def test_a_one_class_detector_reports_lesion_sensitivity_with_breakdowns():
    from bench.datasets.base import Sample
    from bench.tasks.det.metrics import DetectionMetric

    samples = [Sample(id=f"i{k}", image=np.zeros((64, 64), np.uint8), bit_depth=8, boxes=np.array([[10.0, 10, 14, 14], [40, 40, 50, 50]]),
                      labels=np.zeros(2, np.int64)) for k in range(4)]
    records = {s.id: [{"diameter_mm": 3.0, "contrast": 0.05}, {"diameter_mm": 9.0, "contrast": 0.3}] for s in samples}
    metric = DetectionMetric(["lesion"], records)
    # every image: the large lesion found (0.9), the small one missed, one false positive (0.5)
    metric.update([{"boxes": np.array([[41.0, 41, 49, 49], [20, 50, 24, 54]]), "scores": np.array([0.9, 0.5]),
                    "labels": np.zeros(2, np.int64)}] * 4, samples)
    scores = metric.compute()
    assert scores.summary["sensitivity"] == pytest.approx(0.5) and scores.summary["sensitivity_fp05"] == pytest.approx(0.5)
    assert scores.summary["sensitivity_small"] == 0.0 and scores.summary["sensitivity_large"] == 1.0
    assert scores.per_image[0]["lesions"] == 2 and scores.per_image[0]["found"] == 1
    assert DetectionMetric(["a", "b"]).class_names and "sensitivity" not in _two_class_summary()


def _two_class_summary():
    from bench.datasets.base import Sample
    from bench.tasks.det.metrics import DetectionMetric

    s = Sample(id="x", image=np.zeros((32, 32), np.uint8), bit_depth=8, boxes=np.array([[1.0, 1, 5, 5]]), labels=np.array([1]))
    metric = DetectionMetric(["a", "b"])
    metric.update([{"boxes": np.array([[1.0, 1, 5, 5]]), "scores": np.array([0.9]), "labels": np.array([1])}], [s])
    return metric.compute().summary


def test_binary_segmentation_reports_lesion_wise_dice_where_pixel_dice_hides_a_missed_lesion():
    from bench.datasets.base import Sample
    from bench.tasks.seg.metrics import SegMetric

    mask = np.zeros((40, 40), np.uint8)
    mask[2:22, 2:22] = 1  # 400 px, found exactly
    mask[30:32, 30:32] = 1  # 4 px, missed
    empty = np.zeros_like(mask)
    metric = SegMetric(["background", "lesion"], hd95=False)
    pred = mask.copy()
    pred[30:32, 30:32] = 0
    metric.update([pred, empty], [Sample(id="a", image=mask, bit_depth=8, mask=mask), Sample(id="b", image=mask, bit_depth=8, mask=empty)])
    scores = metric.compute()
    assert scores.per_image[0]["dice"] > 0.99 and scores.per_image[0]["lesion_dice"] == pytest.approx(0.5)
    assert np.isnan(scores.per_image[1]["lesion_dice"]) and scores.summary["lesion_dice"] == pytest.approx(0.5)
    assert "lesion_dice" not in SegMetric(["background", "a", "b"], hd95=False).compute().summary


def test_tiny_lesion_boxes_grow_to_the_minimum_in_the_detector_s_training_labels(tmp_path):
    from bench.datasets.base import Dataset, Sample
    from bench.train.det import write_yolo_dataset

    s = Sample(id="a", image=np.zeros((100, 50), np.uint8), bit_depth=8, split="train",
               boxes=np.array([[10.0, 20, 12, 23], [0, 0, 30, 40]]), labels=np.zeros(2, np.int64))
    data = Dataset(name="d", samples=[s], det_classes=["lesion"])
    write_yolo_dataset(tmp_path, data, {"train": [s]}, min_box=8)
    rows = np.loadtxt(tmp_path / "labels" / "train" / "a.txt")
    np.testing.assert_allclose(rows[0, 1:] * [50, 100, 50, 100], [11, 21.5, 8, 8], atol=1e-4)  # centre kept, 8×8 px
    np.testing.assert_allclose(rows[1, 1:] * [50, 100, 50, 100], [15, 20, 30, 40], atol=1e-4)  # big boxes untouched


def test_a_segmentation_is_read_as_a_detector_of_its_components():
    from bench.tasks.lesion_metrics import candidates, mask_boxes

    mask = np.zeros((20, 20), np.uint8)
    mask[2:5, 3:6] = 1
    mask[10:12, 10:11] = 1
    prob = np.zeros((20, 20), np.float32)
    prob[2:5, 3:6], prob[3, 4] = 0.6, 0.9
    prob[10:12, 10:11] = 0.55
    boxes, scores = candidates(mask, prob)
    np.testing.assert_array_equal(boxes, [[3, 2, 6, 5], [10, 10, 11, 12]])
    np.testing.assert_allclose(scores, [0.9, 0.55])
    np.testing.assert_array_equal(mask_boxes(mask), boxes)
    assert candidates(np.zeros((4, 4)), np.zeros((4, 4)))[0].shape == (0, 4)


def test_binary_segmentation_with_probabilities_reports_lesion_sensitivity():
    from bench.datasets.base import Sample
    from bench.tasks.seg.metrics import SegMetric
    from bench.tasks.seg.predict import BinaryPrediction

    truth = np.zeros((40, 40), np.uint8)
    truth[5:9, 5:9] = 1
    truth[25:28, 25:28] = 1  # missed
    pred = np.zeros_like(truth)
    pred[5:9, 5:9] = 1
    pred[30:33, 2:5] = 1  # a false positive, scored lower
    prob = pred * 0.8 + (np.arange(40)[None, :] == 3) * 0.0
    prob[30:33, 2:5] = 0.6
    samples = [Sample(id=f"i{k}", image=truth, bit_depth=8, mask=truth) for k in range(3)]
    metric = SegMetric(["background", "lesion"], hd95=False)
    metric.update([BinaryPrediction(pred, prob.astype(np.float16))] * 3, samples)
    scores = metric.compute()
    assert scores.summary["seg_sensitivity"] == pytest.approx(0.5) and scores.summary["seg_sensitivity_fp05"] == pytest.approx(0.5)
    assert scores.summary["dice"] == pytest.approx(scores.per_image[0]["dice"])  # the map is scored as before
    assert "seg_det_boxes" in scores.per_image[0] and "seg_gt_boxes" in scores.per_image[0]
    plain = SegMetric(["background", "lesion"], hd95=False)
    plain.update([pred] * 3, samples)
    assert "seg_sensitivity" not in plain.compute().summary  # a bare class map has no ranking


def test_a_box_around_half_the_image_finds_only_the_lesion_at_its_centre():
    gt = [np.array([[48, 48, 52, 52], [10, 10, 13, 13], [80, 85, 84, 88]])]
    giant = [np.array([[0.0, 0, 100, 100]])]  # centre (50, 50)
    curve = froc(gt, giant, [np.array([0.9])])
    assert curve.at(1.0)[0] == pytest.approx(1 / 3)
    near = froc([np.array([[20, 20, 23, 23]])], [np.array([[22.5, 22.5, 26.5, 26.5]])], [np.array([0.5])])
    assert near.at(1.0)[0] == 1.0  # centre 24.5: within 2 px of the 3-px lesion's box


def test_segmentation_lesion_sensitivity_breaks_down_by_size_and_contrast():
    from bench.datasets.base import Sample
    from bench.tasks.seg.metrics import SegMetric
    from bench.tasks.seg.predict import BinaryPrediction

    truth = np.zeros((40, 40), np.uint8)
    truth[5:15, 5:15] = 1  # large, strong: found
    truth[30:32, 30:32] = 1  # small, faint: missed
    boxes = np.array([[5.0, 5, 15, 15], [30, 30, 32, 32]])
    pred = np.zeros_like(truth)
    pred[5:15, 5:15] = 1
    samples = [Sample(id=f"i{k}", image=truth, bit_depth=8, mask=truth, boxes=boxes, labels=np.zeros(2, np.int64)) for k in range(2)]
    records = {s.id: [{"diameter_mm": 10.0, "contrast": 0.25}, {"diameter_mm": 2.0, "contrast": -0.04}] for s in samples}
    metric = SegMetric(["background", "lesion"], hd95=False, lesions=records)
    metric.update([BinaryPrediction(pred, (pred * 0.9).astype(np.float16))] * 2, samples)
    summary = metric.compute().summary
    assert summary["seg_sensitivity"] == pytest.approx(0.5)
    assert (summary["seg_sensitivity_large"], summary["seg_sensitivity_small"]) == (1.0, 0.0)
    assert (summary["seg_sensitivity_strong"], summary["seg_sensitivity_faint"]) == (1.0, 0.0)
    assert np.isnan(summary["seg_sensitivity_medium"])
