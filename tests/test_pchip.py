"""The bootstrap's own PCHIP BD-rate must give the `bjontegaard` package's number: on random
monotone curves of 2 to 9 points (flat stretches, kinks, sign changes in slope) and on the
measured curves of the reference results."""

from __future__ import annotations

import warnings
from pathlib import Path

import bjontegaard
import numpy as np
import pytest

from bench.analysis import pchip

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference" / "colin27-aal"


def _package(ra, ma, rt, mt) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(bjontegaard.bd_rate(ra, ma, rt, mt, method="pchip", require_matching_points=False, min_overlap=0))


def _random_curve(rng, n):
    metric = np.cumsum(rng.choice([rng.uniform(0.01, 3.0), 1e-6], size=n) + rng.uniform(0, 2, n))
    rate = np.sort(np.exp(rng.uniform(-4, 1, n)))
    rate = np.maximum.accumulate(rate + np.arange(n) * 1e-9)
    return rate, metric


@pytest.mark.parametrize("seed", range(20))
def test_random_curves_give_the_packages_bd_rate(seed):
    rng = np.random.default_rng(seed)
    for _ in range(25):
        a = _random_curve(rng, int(rng.integers(2, 10)))
        t = _random_curve(rng, int(rng.integers(2, 10)))
        expected = _package(a[0], a[1], t[0], t[1])
        got = pchip.bd_rate(a[0], a[1], t[0], t[1])
        if np.isfinite(expected):
            assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)
        else:
            assert not np.isfinite(got)


def test_measured_curves_and_their_bootstrap_draws_give_the_packages_bd_rate():
    pytest.importorskip("pyarrow")
    from bench.analysis.bdrate import bd_rate_of
    from bench.analysis.curves import common_images, curve, draws
    from bench.analysis.reader import read_results

    folder = read_results(REFERENCE)
    compared = 0
    for metric in ("psnr", "dice"):
        for codec in folder.codecs[:6]:
            images = common_images(folder, ["jpeg2000", codec])
            a, t = curve(folder, "jpeg2000", metric, images), curve(folder, codec, metric, images)
            (ra, ma), (rt, mt) = a.resampled(draws(len(images), 20)), t.resampled(draws(len(images), 20))
            for i in range(len(ra)):
                slow = bd_rate_of((ra[i], ma[i]), (rt[i], mt[i]), rising_part="envelope", min_overlap=0)
                fast = bd_rate_of((ra[i], ma[i]), (rt[i], mt[i]), rising_part="envelope", min_overlap=0, fast=True)
                assert slow[1:] == fast[1:]
                if slow[2] == "ok":
                    assert fast[0] == pytest.approx(slow[0], rel=1e-9, abs=1e-9)
                    compared += 1
    assert compared > 100
