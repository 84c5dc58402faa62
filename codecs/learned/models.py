"""CompressAI's own model classes, taking 1-channel (gray) or 3-channel images.

CompressAI's models are RGB by construction: the first analysis layer reads 3 channels and the
last synthesis layer writes 3. Each class here is a subclass that calls CompressAI's
constructor unchanged and then swaps exactly those two layers for ones of the image's channel
count (the same layer types and shapes CompressAI uses). Everything else, entropy models,
`update`, `compress`, `decompress`, is CompressAI's.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():  # compressai 1.2.8 decorates with torch.jit.script, which torch 2.14 deprecates
    warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit.script.*")
    from compressai.layers import ResidualBlockWithStride, subpel_conv3x3
    from compressai.models import Cheng2020Anchor, MeanScaleHyperprior, ScaleHyperprior
    from compressai.models.utils import conv, deconv


class _ConvEndsForChannels:
    """For the Ballé-style models, whose ends are `conv(3, N)` and `deconv(N, 3)`."""

    def __init__(self, N: int, M: int, channels: int = 3) -> None:
        super().__init__(N, M)
        self.channels = channels
        if channels != 3:
            self.g_a[0] = conv(channels, N)
            self.g_s[-1] = deconv(N, channels)


class ScaleHyperpriorChannels(_ConvEndsForChannels, ScaleHyperprior):
    """bmshj2018-hyperprior (Ballé et al. 2018) for `channels` input channels."""


class MeanScaleHyperpriorChannels(_ConvEndsForChannels, MeanScaleHyperprior):
    """mbt2018-mean (Minnen et al. 2018, mean-scale hyperprior) for `channels` input channels."""


class Cheng2020AnchorChannels(Cheng2020Anchor):
    """cheng2020-anchor (Cheng et al. 2020, residual blocks + autoregressive context) for
    `channels` input channels. Its latent width equals N (M is ignored, as in CompressAI)."""

    def __init__(self, N: int, M: int | None = None, channels: int = 3) -> None:
        super().__init__(N)
        self.channels = channels
        if channels != 3:
            self.g_a[0] = ResidualBlockWithStride(channels, N, stride=2)
            self.g_s[-1] = subpel_conv3x3(N, channels, 2)


ARCHITECTURES = {
    "bmshj2018-hyperprior": ScaleHyperpriorChannels,
    "mbt2018-mean": MeanScaleHyperpriorChannels,
    "cheng2020-anchor": Cheng2020AnchorChannels,
}


def build_model(architecture: str, N: int, M: int, channels: int):
    return ARCHITECTURES[architecture](N, M, channels=channels)
