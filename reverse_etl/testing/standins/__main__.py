"""Run one destination stand-in in its own process until stdin closes (the benchmark does, so the stand-in
does not share the client's GIL):

    python -m reverse_etl.testing.standins meta --token T --audience 123

prints the base URL on stdout. `GET /__standin/summary` returns counts.
"""

from __future__ import annotations

import argparse
import sys

from reverse_etl.testing.standins.meta import MetaStandin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one destination stand-in until stdin closes.")
    parser.add_argument("kind", choices=["meta"])
    parser.add_argument("--token", required=True)
    parser.add_argument("--audience", action="append", required=True)
    parser.add_argument("--cheap-hex-check", action="store_true", help="check hash length only")
    args = parser.parse_args(argv)
    server = MetaStandin(args.token, set(args.audience), full_hex_check=not args.cheap_hex_check).start()
    print(server.base_url, flush=True)
    try:
        sys.stdin.read()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
