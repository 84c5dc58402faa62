"""The README's result numbers, computed from the committed reference results and written into
README.md by cog (cogapp), so that no number there is typed by hand.

    python results/readme_numbers.py           # rewrite README.md's generated blocks
    python results/readme_numbers.py --check   # exit 1, naming the block, when README.md is stale

Why cog: it is the kept tool for "text generated inside a document" (the generator sits in a
comment next to its output, and `--check` is the CI test), so the README stays one plain
markdown file. `tests/test_readme_numbers.py` runs the check, and proves it fails on a number
changed by hand. Intervals are the analysis layer's own (1,000 paired bootstrap draws, seed 0),
so these are exactly what `bench lossless` and `bench bdrate` print on the same folders.
"""

from __future__ import annotations

import functools
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOBES = ROOT / "results/reference/colin27-aal"
LESIONS = ROOT / "results/reference/colin27-lesions"
LEARNED_LESIONS = ROOT / "results/reference/learned-colin27-lesions"
PAIR_CODECS = ("jpeg", "jpeg2000", "bpg", "vvc")
WIDTH = 100  # the README's line length
NAMES = {"jpeg": "JPEG", "jpeg2000": "JPEG 2000", "bpg": "BPG", "vvc": "VVC", "webp": "WebP"}


def _signed(value: float) -> str:
    """A signed figure with a true minus sign, as the README writes them."""
    return f"{value:+.1f}".replace("-", "\u2212")


def _pct(value: float) -> str:
    return _signed(value) + "%"


def _interval(low: float, high: float) -> str:
    return f"[{_signed(low)}, {_signed(high)}]"


def _lossless(folder, metric: str) -> dict:
    from bench.analysis.lossless import lossless_ratios

    return {p.codec: p for p in lossless_ratios(folder, metric)}


def _bdrates(folder, anchor: str, metric: str, **options) -> dict:
    from bench.analysis.bdrate import bd_rates

    return {r.codec: r for r in bd_rates(folder, anchor, metric, **options)}


def _pairs(folder, metric: str) -> tuple[list, int]:
    """The six pairwise BD-rates among `PAIR_CODECS` (later codec against earlier), and how many exclude 0."""
    pairs = [_bdrates(folder, a, metric, codecs=[b])[b] for i, a in enumerate(PAIR_CODECS) for b in PAIR_CODECS[i + 1:]]
    return pairs, sum(1 for r in pairs if r.status == "ok" and (r.ci_low > 0 or r.ci_high < 0))


@functools.cache
def results_so_far() -> str:
    """The README's "Results so far": the lobes against the lesions, from the two reference folders."""
    from bench.analysis.reader import read_results

    lobes, lesions = read_results(LOBES), read_results(LESIONS)
    dice_j2k = _lossless(lobes, "dice")["jpeg2000"]
    dprime = _lossless(lesions, "dprime")
    j2k = dprime["jpeg2000"]
    bd = _bdrates(lesions, "jpeg2000", "dprime")
    psnr = _bdrates(lesions, "jpeg2000", "psnr")
    pairs, excluding = _pairs(lesions, "dprime")
    tie = min((r for r in pairs if r.status == "ok"), key=lambda r: abs(r.bd_rate))

    def ci(codec: str) -> str:
        r = bd[codec]
        return f"{_pct(r.bd_rate)} {_interval(r.ci_low, r.ci_high)}"
    tie_text = (f"{NAMES[tie.codec]} and {NAMES[tie.anchor]} tie, {_pct(tie.bd_rate)} {_interval(tie.ci_low, tie.ci_high)}"
                if tie.ci_low <= 0 <= tie.ci_high else f"the closest, {NAMES[tie.codec]} against {NAMES[tie.anchor]}, "
                f"{_pct(tie.bd_rate)} {_interval(tie.ci_low, tie.ci_high)}")
    anatomy = (f"**Anatomy (colin27-aal lobes, `seg`):** the lobes survive heavy compression. JPEG 2000 stays within "
               f"{dice_j2k.tolerance:g} Dice of uncompressed ({lobes.uncompressed('dice'):.3f}) down to about {dice_j2k.bpp:.2f} bpp, "
               "and every codec's band overlaps every other's above ~0.2 bpp (`results/reference/colin27-aal`).")
    findings = (f"**Findings (colin27-lesions, `observer`):** small low-contrast lesions are what compression destroys first. "
                f"JPEG 2000 keeps the channelized Hotelling observer's d′ within 5% of uncompressed ({lesions.uncompressed('dprime'):.3f}) "
                f"only from {j2k.bpp:.2f} bpp [{j2k.bpp_ci_low:.2f}, {j2k.bpp_ci_high:.2f}] on, {_times(j2k.bpp / dice_j2k.bpp)} the rate "
                f"the lobes need; VVC from {dprime['vvc'].bpp:.2f}, BPG from {dprime['bpg'].bpp:.2f}, JPEG from {dprime['jpeg'].bpp:.2f} bpp. "
                f"d′ BD-rates against JPEG 2000: VVC {ci('vvc')}, BPG {ci('bpg')}, WebP {_pct(bd['webp'].bd_rate)}, JPEG {ci('jpeg')}; "
                f"{_count(excluding)} of the six pairs among JPEG, JPEG 2000, BPG and VVC exclude 0 ({tie_text}). "
                f"The lesion ranking is not the PSNR ranking: JPEG costs {_pct(psnr['jpeg'].bd_rate)} on PSNR but {_pct(bd['jpeg'].bd_rate)} "
                f"on d′, WebP {_pct(psnr['webp'].bd_rate)} on PSNR but {_pct(bd['webp'].bd_rate)} on d′, and VVC's PSNR lead over BPG "
                f"({_pct(psnr['vvc'].bd_rate)} against {_pct(psnr['bpg'].bd_rate)}) is gone (`results/reference/colin27-lesions`).")
    return "\n".join(['Two tasks, two answers to "how many bits before the model misses something":', _bullet(anatomy), _bullet(findings),
                      _bullet(_lesion_network(lesions, dice_j2k.bpp, psnr)), _bullet(_learned_on_lesions(lesions))])


def _lesion_network(lesions, lobes_bpp: float, psnr: dict) -> str:
    """The lesion U-Net's sentence: its sensitivity, where each codec keeps it, and the pairwise BD-rates."""
    metric = "seg_sensitivity"
    found = _lossless(lesions, metric)
    pairs, excluding = _pairs(lesions, metric)
    by_pair = {(r.codec, r.anchor): r for r in pairs}
    vvc_j2k, bpg_j2k, vvc_bpg = by_pair[("vvc", "jpeg2000")], by_pair[("bpg", "jpeg2000")], by_pair[("vvc", "bpg")]
    j2k = found["jpeg2000"]
    upper = f"{j2k.bpp_ci_high:.2f}" if math.isfinite(j2k.bpp_ci_high) else "above the highest rate tested"
    return (f"**Findings, read by a network (colin27-lesions, `seg`):** the lesion U-Net finds {lesions.uncompressed(metric):.2f} of the "
            f"test lesions at 1 false positive per image uncompressed (a weak network: `tasks/weights/TRAINING.md` shows which "
            f"lesions it misses and why). JPEG 2000 keeps that within {j2k.tolerance:g} only from {j2k.bpp:.2f} bpp "
            f"[{j2k.bpp_ci_low:.2f}, {upper}] on, {_times(j2k.bpp / lobes_bpp)} the lobes' rate; VVC from {found['vvc'].bpp:.2f}, BPG from "
            f"{found['bpg'].bpp:.2f}, JPEG from {found['jpeg'].bpp:.2f} bpp. Sensitivity BD-rates: VVC against JPEG 2000 "
            f"{_pct(vvc_j2k.bd_rate)} {_interval(vvc_j2k.ci_low, vvc_j2k.ci_high)}, BPG against JPEG 2000 {_pct(bpg_j2k.bd_rate)} "
            f"{_interval(bpg_j2k.ci_low, bpg_j2k.ci_high)}; {_count(excluding)} of the six pairs exclude 0. VVC's PSNR lead over BPG "
            f"({_pct(psnr['vvc'].bd_rate)} against {_pct(psnr['bpg'].bd_rate)} against JPEG 2000) buys no sensitivity: VVC against BPG "
            f"{_pct(vvc_bpg.bd_rate)} {_interval(vvc_bpg.ci_low, vvc_bpg.ci_high)}.")


def _at_rate(folder, codec: str, metric: str, bpp: float) -> float:
    """`metric` of `codec` at `bpp`, linear in log-rate between its two nearest points (nan outside its range)."""
    import numpy as np

    rows = folder.summary[folder.summary.codec == codec].sort_values("bpp")
    x, y = np.log(rows.bpp.to_numpy(float)), rows[metric].to_numpy(float)
    return float(np.interp(math.log(bpp), x, y)) if x[0] <= math.log(bpp) <= x[-1] else math.nan


def _learned_on_lesions(lesions) -> str:
    """mbt2018-mean, trained for PSNR on lesion-free slices, read by the observer: against JPEG 2000 here, and
    at its highest rate against VVC from the classical reference (same images, same observer)."""
    from bench.analysis.reader import read_results

    learned = read_results(LEARNED_LESIONS)
    mbt = next(c for c in learned.codecs if c.startswith("mbt2018-mean"))
    d, p, sens = (_bdrates(learned, "jpeg2000", m, codecs=[mbt])[mbt] for m in ("dprime", "psnr", "seg_sensitivity"))
    points = learned.summary[learned.summary.codec == mbt].sort_values("bpp")
    top, mid = points.iloc[-1], points.iloc[(points.bpp - 0.3).abs().argmin()]
    ref, classical = learned.uncompressed("dprime"), _bdrates(lesions, "jpeg2000", "dprime")["vvc"]
    vvc, j2k = _at_rate(lesions, "vvc", "dprime", top.bpp), _at_rate(lesions, "jpeg2000", "dprime", top.bpp)
    mid_vvc = _at_rate(lesions, "vvc", "dprime", mid.bpp)
    mid_text = "as VVC does" if abs(mid.dprime - mid_vvc) < 0.01 else ("better than VVC" if mid.dprime > mid_vvc else "below VVC")
    sens_text = "an interval that holds 0" if sens.ci_low <= 0 <= sens.ci_high else "an interval that excludes 0"
    return (f"**Findings through a learned codec (colin27-lesions):** `mbt2018-mean`, trained for PSNR on colin27-aal's "
            f"lesion-free train slices (it never saw a lesion), has a d′ BD-rate against JPEG 2000 of {_pct(d.bd_rate)} "
            f"{_interval(d.ci_low, d.ci_high)} ({_pct(p.bd_rate)} on PSNR; VVC's d′ BD-rate, over its own range, is "
            f"{_pct(classical.bd_rate)}). At {mid.bpp:.2f} bpp it keeps d′ {mid_text} ({mid.dprime:.3f} against "
            f"{mid_vvc:.3f}), but its ladder ends at {top.bpp:.2f} bpp with d′ {top.dprime:.3f}, "
            f"{_pct(100 * (top.dprime / ref - 1))} from uncompressed, where VVC reaches {vvc:.3f} and JPEG 2000 {j2k:.3f}: no learned "
            f"point is observer-lossless yet. Read by the lesion U-Net, its sensitivity BD-rate against JPEG 2000 is "
            f"{_pct(sens.bd_rate)} {_interval(sens.ci_low, sens.ci_high)}, {sens_text} (`results/reference/learned-colin27-lesions`).")


@functools.cache
def bdrate_example() -> str:
    """The README's BD-rate example: how many codecs `bench bdrate --anchor vvc --metric dice` gives a number."""
    from bench.analysis.reader import read_results

    lobes = read_results(LOBES)
    default = _bdrates(lobes, "vvc", "dice", n_draws=0)
    strict = _bdrates(lobes, "vvc", "dice", n_draws=0, strict=True)
    numbered = [c for c, r in default.items() if r.status == "ok"]
    short = sorted((r for r in default.values() if r.status.startswith("overlap")), key=lambda r: r.codec)
    shares = [r.overlap for r in short]
    why = (f"; {_join([r.codec for r in short])} share {_span(shares)} of vvc's Dice range and get none" if short else "")
    return _wrap(f"On the default results (`results/reference/colin27-aal`), `bench bdrate $R --anchor vvc --metric dice` gives "
                 f"numbers for {len(numbered)} of {len(default)} codecs (strict: {sum(r.status == 'ok' for r in strict.values())} of "
                 f"{len(strict)}){why}.", WIDTH - 2)


def _wrap(text: str, width: int = WIDTH) -> str:
    import textwrap

    return textwrap.fill(text, width, break_long_words=False, break_on_hyphens=False)


def _bullet(text: str) -> str:
    import textwrap

    return textwrap.fill(text, WIDTH, initial_indent="- ", subsequent_indent="  ", break_long_words=False, break_on_hyphens=False)


def _times(ratio: float) -> str:
    words = {2: "twice", 3: "three times", 4: "four times", 5: "five times", 6: "six times", 7: "seven times", 8: "eight times",
             9: "nine times", 10: "ten times"}
    return words.get(round(ratio), f"{ratio:.0f} times")


def _count(n: int) -> str:
    return ["none", "one", "two", "three", "four", "five", "six"][n] if n < 7 else str(n)


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _span(shares: list[float]) -> str:
    lo, hi = round(100 * min(shares)), round(100 * max(shares))
    return f"{lo}%" if lo == hi else f"{lo}–{hi}%"


def main(argv: list[str]) -> int:
    """Run cog on README.md (in place, or `--check`); its exit status is ours."""
    from cogapp import Cog

    sys.path.insert(0, str(ROOT / "results"))
    check = "--check" in argv
    readme = next((a for a in argv if not a.startswith("-")), str(ROOT / "README.md"))
    args = ["cog", "--check" if check else "-r", "--verbosity=1" if check else "--verbosity=0", readme]
    return Cog().main(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
