"""The media index batch job: ``python -m gpu_jobs.media_index`` (see app.py)."""
