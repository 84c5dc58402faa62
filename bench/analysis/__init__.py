"""Reading results folders back: tables, task BD-rates and task-lossless ratios.

Analysis reads a results folder alone (`reader.read_results`), never the dataset or the
networks, so a folder from another machine or last year gives the same numbers."""
