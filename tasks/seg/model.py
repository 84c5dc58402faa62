"""A compact U-Net for 1- or 3-channel medical slices.

Why our own network rather than segmentation-models-pytorch: the benchmark's images are mostly
single-channel slices of a few hundred pixels, the network must train in minutes on a CPU and
run fast inside every codec × quality sweep, and its checkpoint is committed with the project.
smp's encoders are ImageNet-shaped (3-channel stems, 11M+ parameters for resnet18), were measured
~1.5× slower per training step on CPU than this net (see shared/notes/offline-ml.md), and their
pretrained weights cannot be downloaded here anyway. This U-Net has ~1.9M parameters at 16 base
channels (a ~7.5 MB checkpoint), loads with plain `torch.load(weights_only=True)`, and depends on
nothing but torch.

Details:
- 4 poolings, so the input is padded (zeros, bottom/right) to a multiple of 16 inside `forward`
  and the logits are cropped back: any H×W goes in, H×W logits come out.
- Optional coordinate channels (CoordConv): two extra input planes holding the normalised row
  and column of each pixel. Lobe labels of an atlas depend on position as much as on texture,
  and the planes cost nothing.
- BatchNorm + ReLU double convolutions, bilinear upsampling + 1×1 conv (no transposed-conv
  checkerboards), input expected in [0, 1] (the task divides by the bit depth's maximum).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

MULTIPLE = 16


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 2, base: int = 16, coords: bool = True) -> None:
        super().__init__()
        self.in_channels, self.num_classes, self.base, self.coords = in_channels, num_classes, base, coords
        widths = [base * 2**i for i in range(5)]
        self.enc = nn.ModuleList([_block(in_channels + (2 if coords else 0), widths[0])]
                                 + [_block(widths[i - 1], widths[i]) for i in range(1, 5)])
        self.reduce = nn.ModuleList([nn.Conv2d(widths[i], widths[i - 1], 1) for i in range(4, 0, -1)])
        self.dec = nn.ModuleList([_block(2 * widths[i - 1], widths[i - 1]) for i in range(4, 0, -1)])
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def config(self) -> dict:
        return {"in_channels": self.in_channels, "num_classes": self.num_classes, "base": self.base, "coords": self.coords}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % MULTIPLE, (-w) % MULTIPLE
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph))
        if self.coords:
            n, _, hp, wp = x.shape
            # coordinates of the unpadded image span [-1, 1]; padding extends them linearly
            yy = (torch.arange(hp, device=x.device, dtype=x.dtype) * (2.0 / max(h - 1, 1)) - 1).view(1, 1, hp, 1)
            xx = (torch.arange(wp, device=x.device, dtype=x.dtype) * (2.0 / max(w - 1, 1)) - 1).view(1, 1, 1, wp)
            x = torch.cat([x, yy.expand(n, 1, hp, wp), xx.expand(n, 1, hp, wp)], 1)
        skips = []
        for i, block in enumerate(self.enc):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for reduce, block in zip(self.reduce, self.dec):
            skip = skips.pop()
            x = reduce(F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False))
            x = block(torch.cat([x, skip], 1))
        return self.head(x)[..., :h, :w]
