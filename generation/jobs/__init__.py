"""Generation jobs: queueing.py (queue, retry, cancel), worker.py (the GPU worker's claim and run, the media
worker's encode), reconcile.py (lost workers and messages), progress.py (what the generation page shows)
and views.py (that page)."""
