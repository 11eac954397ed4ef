"""`ona-bot demo` (being written)."""

from __future__ import annotations

import argparse


def main(args: argparse.Namespace) -> int:
    print("The demo is being written.")
    return 0
