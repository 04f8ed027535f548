"""Shared command-line handling of the examples: --url and --token (or LIVEKIT_URL /
LIVEKIT_TOKEN), --lib for the path of liblkcore, -v for library debug logs."""

from __future__ import annotations

import argparse
import logging
import os


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--url", default=os.environ.get("LIVEKIT_URL"), help="ws:// or wss:// URL (env LIVEKIT_URL)")
    p.add_argument("--token", default=os.environ.get("LIVEKIT_TOKEN"), help="access token (env LIVEKIT_TOKEN)")
    p.add_argument("--lib", default=None, help="path of liblkcore.so (default: LKCORE_LIB, package, system)")
    p.add_argument("--e2ee-key", default=None, help="enable end-to-end encryption with this shared key")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logs, including the library's")
    return p


def parse(p: argparse.ArgumentParser) -> argparse.Namespace:
    args = p.parse_args()
    if not args.url or not args.token:
        p.error("--url and --token (or LIVEKIT_URL and LIVEKIT_TOKEN) are required")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return args


def room_options(args: argparse.Namespace):  # -> lkcore.RoomOptions
    import lkcore

    if args.e2ee_key:
        return lkcore.RoomOptions(e2ee=lkcore.E2EEOptions(shared_key=args.e2ee_key.encode()))
    return lkcore.RoomOptions()
