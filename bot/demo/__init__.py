"""`ona-bot demo`: the real bot on the embedded Ona emulator and a fake Slack, driven from a shell.

    session.py  the emulator, the fake Slack, a temporary SQLite file, the demo policy, the Bolt app
    shell.py    the interactive loop and the script runner (`--script FILE`)
    render.py   Block Kit → 80-column text with numbered buttons
    forms.py    modals as forms: fields, answers, Slack's own checks, the submission's state
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from bot.demo.session import Session, quiet_logs
from bot.demo.shell import Shell

__all__ = ["Session", "Shell", "main", "use_color"]


def use_color(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org) or TERM=dumb."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR", "") != "" or env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def main(args: argparse.Namespace, *, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    script = getattr(args, "script", None)
    lines: list[str] | None = None
    if script:
        try:
            lines = Path(script).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            print(f"ona-bot demo: cannot read {script}: {exc.strerror}", file=sys.stderr)
            return 2
    with quiet_logs():
        return _run(lines, stdin, stdout)


def _run(lines: list[str] | None, stdin: TextIO, stdout: TextIO) -> int:
    tty = lines is None and stdin.isatty() and stdout.isatty()
    width = min(80, shutil.get_terminal_size((80, 24)).columns) if tty else 80
    try:
        session = Session().start()
    except Exception as exc:
        print(f"ona-bot demo: could not start: {exc}", file=sys.stderr)
        return 1
    try:
        shell = Shell(session, stdout, color=use_color(stdout), width=width, script=lines is not None)
        if lines is not None:
            return shell.run_script(lines)
        if tty:
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401  (line editing and history for input())
        return shell.interact(stdin, tty=tty)
    except KeyboardInterrupt:  # Ctrl-C while the bot was busy
        print(file=stdout)
        return 0
    except BrokenPipeError:  # `ona-bot demo --script … | head`: the reader left
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
        return 0
    finally:
        session.close()
