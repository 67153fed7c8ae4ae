"""The ``sen`` console command. Sub-commands: ``collect`` (the event collector, docs/collect.md)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    commands = {"collect": "the event collector (Segment HTTP Tracking API), docs/collect.md"}
    if not args or args[0] in ("-h", "--help") or args[0] not in commands:
        print("usage: sen <command> [options]\n\ncommands:")
        for name, what in commands.items():
            print(f"  {name:<10} {what}")
        return 0 if args and args[0] in ("-h", "--help") else 2
    if args[0] == "collect":
        from sen.collect.__main__ import main as collect_main

        return collect_main(args[1:])
    return 2


if __name__ == "__main__":
    sys.exit(main())
