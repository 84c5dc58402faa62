"""How much training each budget buys, and what a training step costs, for `bench reproduce`.

`tiny` is a smoke run (seconds a step: the tests use it); `small` trains every network enough to
see the shape of the curves (about an hour of two cores on colin27-aal); `full` is the training
campaign's recipe (codecs/weights/TRAINING.md): the anchors' 9-point λ ladder at the steps per
point the campaign reached, MVMICNet's stage 2 at 10,000 steps per point with its same-budget
control, the task networks as shipped.

SECONDS_PER_STEP are measured on the project's machine (2-core Zen 4, one thread per rate point,
bf16 autocast, the other core also training): the campaign's logs, sessions 3-6. The plan's
estimates divide by the parallel jobs; they are for planning, not promises.
"""

from __future__ import annotations

LADDER9 = "[0.2,0.1,0.032,0.0115,0.0041,0.0015,0.00055,0.00015,0.00004]"

SECONDS_PER_IMAGE_EPOCH = {  # task networks: one train image once, on the shipped checkpoints' machine
    "seg": 0.159,  # colin27-aal: 2,224 s for 200 epochs of 70 slices
    "seg-holdout": 0.30,  # base 24: 2,111 s for 100 epochs
    "det": 0.12,  # YOLOv8n at 256 px: 2,098 s for 250 epochs
}
SECONDS_PER_STEP = {  # learned codecs: one training step of one rate point, one thread, Zen 4 with bf16
    "bmshj2018-hyperprior": 0.175,  # not timed in bf16: taken as mbt2018-mean's (the same transforms, no mean branch)
    "mbt2018-mean": 0.175,  # campaign session 5 log: 4,952 steps in 867 s per point (-j 1, cheng2020-anchor on the other core)
    "cheng2020-anchor": 0.35,  # N=48, campaign session 5 log: 2,696 steps in 933 s
    "mvmicnet": 2.2,  # stage 2 (batch 4 whole slices + the frozen U-Net), fp32: 400 steps in 535-1,207 s per point
}
# On a CPU without native bf16 training runs in fp32: mbt2018-mean took 0.565 s/step on the Zen 3 of
# campaign session 6 (1.77 steps/s), 3.2x the figure above; the plan scales the anchors' steps by it there.
FP32_SLOWDOWN = 3.2

BUDGETS: dict[str, dict] = {
    "tiny": {
        "seg": {"epochs": 1, "set": ["base=8"]},
        "seg-holdout": {"epochs": 1, "set": ["base=8"]},
        "det": {"epochs": 1, "batch_size": 4, "set": ["imgsz=64"]},
        "anchor": {"points": 2, "first": 4, "finetune": 2,
                   "set": ["N=8", "M=8", "steps=4", "finetune_steps=2", "lambdas=[0.05,0.01]", "val_every=2", "crop=64", "batch_size=2"]},
        "cheng2020-anchor": {"set": []},  # the anchors' N=8 above
        "mvmicnet": {"steps": 2, "set": ["steps=2", "val_every=2", "batch_size=2", "warmup_steps=1"]},
        "codecs": ["jpeg", "jpeg2000"],
        "draws": 50,
    },
    "small": {
        "seg": {"epochs": 40, "set": []},
        "seg-holdout": {"epochs": 40, "set": []},
        "det": {"epochs": 40, "set": []},
        "anchor": {"points": 5, "first": 3000, "finetune": 1000, "set": ["steps=3000", "finetune_steps=1000"]},
        "cheng2020-anchor": {"set": ["N=48"]},
        "mvmicnet": {"steps": 500, "set": ["steps=500"]},
        "codecs": None,  # every available classical codec
        "draws": 1000,
    },
    "full": {
        "seg": {"epochs": None, "set": []},  # the task's own defaults, as shipped
        "seg-holdout": {"epochs": 100, "set": []},  # as the shipped held-out evaluator
        "det": {"epochs": None, "set": []},
        "anchor": {"points": 9, "first": 15000, "finetune": 15000,
                   "set": [f"lambdas={LADDER9}", "steps=15000", "finetune_steps=15000"]},
        "cheng2020-anchor": {"set": ["N=48"]},
        "mvmicnet": {"steps": 10000, "set": ["steps=10000"]},
        "codecs": None,
        "draws": 1000,
    },
}
DEFAULT_EPOCHS = {"seg": 200, "seg-holdout": 200, "det": 250}  # the task trainers' own defaults
