"""The channelized Hotelling observer: its figures against known answers, and the task on hybrid
images, where blurring (what a coarse codec does to a small lesion) must cost detectability."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from scipy.stats import mannwhitneyu

from bench.datasets.base import Dataset, Sample
from bench.tasks.observer.channels import laguerre_gauss
from bench.tasks.observer.cho import auc, dprime, two_fold_statistics


def test_channels_are_unit_norm_and_the_first_is_a_centred_gaussian():
    u = laguerre_gauss(21, (10.0, 10.0), 4.0, 6)
    np.testing.assert_allclose(np.linalg.norm(u, axis=0), 1.0)
    first = u[:, 0].reshape(21, 21)
    assert np.unravel_index(first.argmax(), first.shape) == (10, 10) and np.allclose(first, first.T)


def test_cho_d_prime_of_a_gaussian_signal_in_white_noise_is_the_ideal_observer_s():
    rng = np.random.default_rng(0)
    size, sigma = 21, 1.0
    y, x = np.mgrid[0:size, 0:size]
    signal = 0.8 * np.exp(-((x - 10) ** 2 + (y - 10) ** 2) / (2 * 2.0**2))
    u = laguerre_gauss(size, (10.0, 10.0), 2.0 * np.sqrt(2 * np.pi), 6)  # LG width matching the signal's σ
    n = 4000
    sa = rng.normal(0, sigma, (n, size * size))
    sp = rng.normal(0, sigma, (n, size * size)) + signal.ravel()
    t_sp, t_sa = two_fold_statistics(sp @ u, sa @ u, np.arange(n) % 2)
    ideal = np.linalg.norm(signal) / sigma  # the ideal observer's d′ for a known signal in white noise
    assert dprime(t_sp, t_sa)[0] == pytest.approx(ideal, rel=0.06)


def test_auc_is_mann_whitney_and_weights_reweight_pairs():
    rng = np.random.default_rng(1)
    t_sp, t_sa = rng.normal(1, 1, 50), rng.normal(0, 1, 50)
    t_sa[:5] = t_sp[:5]  # ties count one half
    u = mannwhitneyu(t_sp, t_sa).statistic
    # the weighted form pairs sp and sa of one pair: with unit weights it is the ordinary U / (n·n)
    assert auc(t_sp, t_sa)[0] == pytest.approx(u / 2500)
    w = np.ones((2, 50)); w[1] = 2
    np.testing.assert_allclose(auc(t_sp, t_sa, w), auc(t_sp, t_sa)[0])
    np.testing.assert_allclose(dprime(t_sp, t_sa, w), dprime(t_sp, t_sa)[0])


def _hybrid_dataset(n_slices=8, layouts=3):
    from bench.datasets.lesions import draw_lesion, insert

    rng = np.random.default_rng(7)
    samples, records = [], {}
    for z in range(n_slices):
        base = np.clip(ndimage.gaussian_filter(rng.normal(120, 40, (96, 96)), 3) + rng.normal(0, 2, (96, 96)), 0, 255).astype(np.uint8)
        tissue = np.ones(base.shape, bool)
        for k in range(layouts):
            lesions = []
            for _ in range(3):
                lesion = draw_lesion(rng, rng.uniform(15, 80), rng.uniform(15, 80))
                if all(np.hypot(lesion.cx - o.cx, lesion.cy - o.cy) > 25 for o in lesions):
                    lesions.append(lesion)
            image, mask, boxes = insert(base, tissue, lesions, 8)
            sid = f"z{z:03d}-l{k:02d}"
            samples.append(Sample(id=sid, image=image, bit_depth=8, mask=mask, boxes=boxes, labels=np.zeros(len(boxes), np.int64)))
            records[sid] = [l.record() for l in lesions]
    return Dataset(name="hybrid", samples=samples, seg_classes=["background", "lesion"], det_classes=["lesion"],
                   extra={"lesions": records})


def test_the_observer_task_pairs_every_lesion_and_blur_costs_detectability():
    from bench.tasks.observer.task import ObserverTask

    data = _hybrid_dataset()
    task = ObserverTask(data)
    images = [s.image for s in data.samples]
    clean = task.evaluate(images, data.samples)
    again = task.evaluate(images, data.samples)
    blurred = task.evaluate([ndimage.gaussian_filter(im.astype(float), 2.5) for im in images], data.samples)
    n_lesions = sum(len(r) for r in data.extra["lesions"].values())
    assert clean.summary["observer_pairs"] + clean.summary["observer_skipped"] == n_lesions and clean.summary["observer_pairs"] > 30
    assert clean.summary == again.summary  # deterministic
    assert set(clean.summary) == {"dprime", "auc", "observer_pairs", "observer_skipped"}  # intervals: analysis's job
    assert blurred.summary["dprime"] < clean.summary["dprime"] - 0.3 and blurred.summary["auc"] < clean.summary["auc"]
    assert sum(r["observer_pairs"] for r in clean.per_image) == clean.summary["observer_pairs"]


def test_the_observer_refuses_data_without_lesion_records():
    from bench.errors import BenchError
    from bench.tasks.observer.task import ObserverTask

    plain = Dataset(name="plain", samples=[Sample(id="a", image=np.zeros((8, 8), np.uint8), bit_depth=8)])
    assert "records no lesions" in ObserverTask.supports(plain)
    with pytest.raises(BenchError, match="observer"):
        ObserverTask(plain)
