"""``python -m infra.local``: run the Likeness API locally against moto (or LocalStack).

    python -m infra.local [--host 127.0.0.1] [--port 8000] [--emulator-port 4566] [--external]

``--external`` starts no emulator: AWS_ENDPOINT_URL points at LocalStack (see
infra/docker-compose.localstack.yml), or, unset, your credentials point at a real account.
The template is provisioned either way.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from infra.local.stack import LocalStack


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.local", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="API bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="API port, 0 for a free one (default 8000)")
    parser.add_argument(
        "--emulator-port", type=int, default=4566, help="moto port, 0 for a free one (default 4566)"
    )
    parser.add_argument(
        "--external",
        action="store_true",
        help="use AWS_ENDPOINT_URL (LocalStack) or real AWS instead of starting moto",
    )
    parser.add_argument(
        "--threaded-emulator",
        action="store_true",
        help="run moto in a thread of this process instead of a child process",
    )
    parser.add_argument("--no-seed", action="store_true", help="do not create the dev account and API key")
    parser.add_argument("--api-key", default=None, help="dev API key to seed (default $LIKENESS_DEV_API_KEY)")
    parser.add_argument("--stage", default=None, help="Stage parameter (default local)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not args.verbose:
        for noisy in ("botocore", "boto3", "urllib3"):
            logging.getLogger(noisy).setLevel(logging.WARNING)

    stack = LocalStack(parameters={"Stage": args.stage} if args.stage else None)
    try:
        info = stack.start(
            api_host=args.host,
            api_port=args.port,
            emulator_port=args.emulator_port,
            external_endpoint=args.external,
            seed=not args.no_seed,
            seed_api_key=args.api_key,
            isolated_emulator=not args.threaded_emulator,
        )
    except Exception as exc:
        logging.getLogger("infra.local").debug("start failed", exc_info=True)
        print(f"local stack failed to start: {exc}", file=sys.stderr)
        return 1

    env_file = _write_env_file(info.environment, info.emulator_url)
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    key = info.api_key or "<no key: started with --no-seed>"
    providers = _providers()
    print(
        "\n".join(
            [
                "",
                "Likeness local stack is up",
                f"  API        {info.api_url}",
                f"  emulator   {info.emulator_url or 'real AWS (no AWS_ENDPOINT_URL)'}",
                f"  account    {info.account_id or '-'}",
                f"  providers  {providers}",
                "",
                f"  export LIKENESS_API_KEY={key}",
                f"  export AWS_ENDPOINT_URL={info.emulator_url or ''}",
                f'  curl -H "Authorization: Bearer $LIKENESS_API_KEY" {info.api_url}/identity',
                "",
                f'  admin CLI: make admin ARGS="account-show {info.account_id or "acc_dev"}"',
                "",
                "Ctrl-C to stop.",
                "",
            ]
        ),
        flush=True,
    )
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        print("stopping...", flush=True)
        env_file.unlink(missing_ok=True)
        stack.stop()
    return 0


def _providers() -> str:
    """Which hosted providers have a key, and the default model (never a key itself)."""
    from likeness.engines.providers.config import PROVIDERS, provider_config
    from likeness.settings import get_settings

    configured = [name for name in PROVIDERS if provider_config(name).configured]
    shown = ", ".join(configured) if configured else "none (set LIKENESS_GEMINI_API_KEY, ... to add one)"
    return f"{shown}; default model {get_settings().default_image_model}"


def _write_env_file(environment: dict[str, str], emulator_url: str | None) -> Path:
    """What `make admin` (and any shell) needs to reach this stack's tables and queues."""
    values = dict(environment)
    if emulator_url:
        values.update(
            AWS_ENDPOINT_URL=emulator_url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing"
        )
    values.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    path = Path(__file__).resolve().parents[2] / ".local-state" / "stack.env"
    path.parent.mkdir(exist_ok=True)
    path.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in sorted(values.items())))
    return path


if __name__ == "__main__":
    sys.exit(main())
