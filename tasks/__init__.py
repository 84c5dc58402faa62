"""Task plugins (segmentation, detection), installed as `bench.tasks`."""
