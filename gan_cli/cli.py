"""`gan COMMAND ...`: pick the command; everything after it goes to that command's Hydra app."""

from __future__ import annotations

import importlib
import sys

from gan_cli import __version__
from gan_cli.errors import fail

COMMANDS = {
    "train": ("gan_cli.train", "train a GAN (Hydra overrides; -m for sweeps)"),
    "sample": ("gan_cli.sample", "write samples of G from a checkpoint alone"),
    "eval": ("gan_cli.evaluate", "the data set's metrics on samples of a checkpoint's G"),
    "report": ("gan_cli.report", "group a sweep's runs by setting: mean ± std over seeds"),
}


def usage() -> str:
    lines = [f"gan-cli {__version__}: train, compare and sample GANs.", "", "usage: gan COMMAND [OVERRIDES...]", "", "commands:"]
    lines += [f"  {name:<8} {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "`gan COMMAND --help` lists a command's config groups and options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return
    if args[0] in ("-V", "--version"):
        print(f"gan-cli {__version__}")
        return
    command = args[0]
    if command not in COMMANDS:
        fail(f"unknown command {command!r}. The commands are: {', '.join(COMMANDS)}; see `gan --help`.")
    # Hydra reads sys.argv itself; it sees the command's own arguments, and usage lines say `gan <command>`.
    sys.argv = [f"gan {command}", *args[1:]]
    importlib.import_module(COMMANDS[command][0]).main()


if __name__ == "__main__":
    main()
