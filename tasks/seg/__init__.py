"""Segmentation task plugin (`seg`): compact U-Net, Dice/IoU/HD95 metrics, training."""
