"""mvmic-bench: how many bits can a medical image lose before the task model notices?"""

__version__ = "0.1.0"
