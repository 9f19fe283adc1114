"""``python -m gpu_jobs.media_index``: index one media file, or drain a queue of them."""

from gpu_jobs.media_index.app import main

raise SystemExit(main())
