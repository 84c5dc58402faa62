"""The shipped segmentation networks run with channels-last (NHWC) weights for speed; the masks
they predict must be the ones the plain NCHW network gives, on the lobes and on the lesions."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from bench import registry
from bench.datasets.spec import open_dataset

needs_data = pytest.mark.skipif(not Path("/usr/share/mricron/templates/ch2.nii.gz").is_file(),
                                reason="colin27 needs `apt-get install mricron-data`")


@needs_data
@pytest.mark.parametrize("dataset", ["colin27-aal", "colin27-lesions"])
def test_channels_last_weights_predict_the_nchw_masks(dataset):
    import torch

    from bench.tasks.seg.predict import class_probabilities, drop_small_classes, normalise

    data = open_dataset(dataset)
    samples = data.split("test")[:8]
    task = registry.get("task", "seg")(data, device="cpu")
    fast = task.predict([s.image for s in samples], samples)
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in task.model.parameters() if p.dim() == 4)

    plain = copy.deepcopy(task.model).to(memory_format=torch.contiguous_format)
    with torch.no_grad():
        x = normalise([s.image for s in samples], [s.bit_depth for s in samples], task.channels)
        probs = class_probabilities(plain, x, task.inference["flip_tta"])
        masks = drop_small_classes(probs, task.inference["min_class_pixels"]).numpy()
    assert all(np.array_equal(np.asarray(f), m) for f, m in zip(fast, masks))
    if hasattr(fast[0], "probability"):  # lesions: the probability that ranks candidates, too
        got = np.stack([f.probability for f in fast]).astype(np.float32)
        assert np.abs(got - probs[:, 1].numpy()).max() < 1e-3  # float16 storage
