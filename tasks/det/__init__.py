"""Detection task: an Ultralytics YOLO detector trained by the project, scored with COCO mAP.

`offline` configures Ultralytics for machines without internet (and must be imported before
`ultralytics`), `model` builds/loads the network and does the shared pre/post-processing,
`metrics` holds the split-level mAP, `task` the `DetectionTask` plugin, `train` the training.
"""
