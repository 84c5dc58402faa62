"""The campaign figure: every committed version's val R–D from the manifest's ancestry, and the gain
at equal rate (not at equal λ) that the plateau rule reads."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bench.analysis.campaign import gains, plot_campaign, versions
from bench.errors import BenchError


def _run(psnr_shift: float, bpp_scale: float = 1.0, sha: str = "") -> dict:
    points = [{"lambda": lam, "val_bpp": bpp * bpp_scale, "val_psnr_decoded": psnr + psnr_shift}
              for lam, bpp, psnr in ((0.001, 0.1, 30.0), (0.01, 0.2, 33.0), (0.1, 0.4, 36.0))]
    return {"checkpoint": "x.safetensors", "sha256": sha, "train_seconds": 3600, "precision": "fp32", "rate_points": points}


def test_gain_is_read_at_equal_rate():
    manifest = {**_run(0.5, sha=""), "ancestry": [_run(0.0, sha="a" * 64)]}
    table = versions(manifest, "x.json")
    assert sorted(table.version.unique()) == [0, 1] and table.label.iloc[0].startswith("0: aaaaaaaa (fp32, 1.0 h)")
    assert gains(table).gain_db.tolist() == pytest.approx([0.5, 0.5, 0.5])
    # the same PSNR at twice the bits per point is a loss at equal rate, whatever λ says
    doubled = gains(versions({**_run(0.0, bpp_scale=2.0), "ancestry": [_run(0.0, sha="b" * 64)]}, "x.json"))
    assert doubled.gain_db.iloc[0] == pytest.approx(-3.0) and doubled.gain_db.iloc[1] == pytest.approx(-3.0)
    assert pd.isna(doubled.gain_db.iloc[2])  # 0.8 bpp lies beyond the previous curve


def test_plot_writes_figure_and_gains(tmp_path):
    path = tmp_path / "m-colin27-aal.json"
    path.write_text(json.dumps({**_run(0.2), "ancestry": [_run(0.0, sha="c" * 64), _run(0.1, sha="d" * 64)]}))
    written = plot_campaign(path, tmp_path / "out")
    assert [p.name for p in written] == ["m-colin27-aal-campaign.png", "m-colin27-aal-campaign.pdf", "m-colin27-aal-campaign.csv"]
    csv = pd.read_csv(written[-1])
    assert csv.version.tolist() == [1, 1, 1, 2, 2, 2] and csv.gain_db.tolist() == pytest.approx([0.1] * 6)


def test_a_manifest_without_val_figures_is_an_error(tmp_path):
    path = tmp_path / "bare.json"
    path.write_text(json.dumps({"rate_points": [{"lambda": 0.01}]}))
    with pytest.raises(BenchError, match="records no val bpp/PSNR"):
        plot_campaign(path, tmp_path)
    (tmp_path / "junk.json").write_text("{")
    with pytest.raises(BenchError, match="not a checkpoint or its manifest"):
        plot_campaign(tmp_path / "junk.json", tmp_path)
