"""`make bench`: every benchmark figure, printed."""

from __future__ import annotations

import logging
import os

from bench import bench_faces, bench_identities, cold_imports


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    bench_faces.main()

    from infra.local.stack import LocalStack

    with LocalStack() as stack:
        info = stack.start(api_port=0, seed=True)
        bench_identities.main(info.api_url, info.api_key)
    cold_imports.main()


if __name__ == "__main__":
    main()
