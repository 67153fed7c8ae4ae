"""``python -m sen.collect`` / ``sen collect``: serve the collector with uvicorn."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

import uvicorn

from sen.collect.settings import CollectSettings, CollectSettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sen collect",
        description="Collect events from websites and apps (Segment HTTP Tracking API). "
        "Settings come from CDP_COLLECT_* variables (docs/collect.md); flags override host, port and workers.",
    )
    parser.add_argument("--host", help="address to bind (CDP_COLLECT_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (CDP_COLLECT_PORT, default 8088)")
    parser.add_argument(
        "--workers", type=int, help="processes sharing the landing zone (CDP_COLLECT_WORKERS)"
    )
    parser.add_argument(
        "--access-log", action="store_true", help="log every request (paths only, never keys)"
    )
    args = parser.parse_args(argv)
    try:
        settings = CollectSettings.from_env()
    except CollectSettingsError as exc:
        print(f"sen collect: {exc}", file=sys.stderr)
        return 2
    # The flags only shape the listening socket, which uvicorn's parent process owns: worker processes build
    # the app from the same environment and need none of them.
    overrides = {
        flag: getattr(args, flag) for flag in ("host", "port", "workers") if getattr(args, flag) is not None
    }
    settings = dataclasses.replace(settings, **overrides)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("sen.collect").info("starting %s", settings)
    uvicorn.run(
        "sen.collect.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=args.access_log,
        log_level="info",
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
