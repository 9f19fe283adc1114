"""`make bench`: every benchmark figure, printed."""

from __future__ import annotations

import logging
import os

from bench import (
    bench_characters,
    bench_engine,
    bench_faces,
    bench_identities,
    bench_jobs,
    bench_lists,
    bench_media,
    bench_providers,
    bench_wardrobe,
    cold_imports,
)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    bench_faces.main()
    bench_engine.main()
    bench_media.main()

    from infra.local.stack import LocalStack

    # hosted providers are local fakes, configured before the stack reads its settings
    gemini, fal, stop_fakes = bench_providers.start_fakes()
    try:
        with LocalStack(start_options={"api_port": 0, "seed": True}) as stack:
            assert stack.info is not None and stack.info.api_key is not None
            bench_identities.main(stack.info.api_url, stack.info.api_key)
            bench_jobs.main(stack.info.api_url, stack.info.api_key)
            bench_wardrobe.main(stack.info.api_url)
            bench_characters.main(stack.info.api_url)
            bench_providers.main(stack.info.api_url, stack.info.api_key, gemini, fal)
            bench_lists.main(stack.info.api_url, stack.emulator_pid)
    finally:
        stop_fakes()
    cold_imports.main()


if __name__ == "__main__":
    main()
