"""`gan COMMAND ...`: pick the command; everything after it goes to that command's Hydra app."""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
from collections.abc import Iterator

from gan_cli import __version__
from gan_cli.errors import fail, hydra_errors
from gan_cli.log import console

COMMANDS = {
    "train": ("gan_cli.train", "train a GAN (Hydra overrides; -m for sweeps)"),
    "sample": ("gan_cli.sample", "write samples of G from a checkpoint alone"),
    "eval": ("gan_cli.evaluate", "the data set's metrics on samples of a checkpoint's G"),
    "report": ("gan_cli.report", "group a sweep's runs by setting: mean ± std over seeds"),
}
HYDRA_CONFIGS = {"train": "train", "sample": "sample", "eval": "eval"}  # the commands Hydra parses, and their conf/*.yaml

# Keys whose value is a file or folder. A sweep's job folders are named like `loss=nonsat,seed=1`, and Hydra
# would read that `=` as a syntax error and that `,` as a sweep; quoted, a path is taken as the shell completed it.
PATH_KEYS = ("ckpt", "resume", "out", "data_root", "data.root", "hydra.run.dir", "hydra.sweep.dir")
NOT_PATHS = ("", "null", "auto")  # Hydra's null, and resume=auto
_PATH_OVERRIDE = re.compile(r"(\+{0,2})(" + "|".join(re.escape(k) for k in PATH_KEYS) + r")=(.*)", re.DOTALL)


def hydra_quoted(value: str) -> str:
    """`value` as one quoted string in Hydra's override grammar (where a backslash escapes only a quote)."""
    q = '"' if "'" in value and '"' not in value else "'"
    body = re.sub(r"(\\*)" + q, lambda m: m.group(1) * 2 + "\\" + q, value)
    body = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, body)  # a backslash before the closing quote must not escape it
    return q + body + q


def quote_paths(args: list[str]) -> list[str]:
    """The command line with each path-valued override's value quoted, unless it is quoted already or not a path."""
    quoted = []
    for arg in args:
        m = _PATH_OVERRIDE.fullmatch(arg)
        if m and m[3].lower() not in NOT_PATHS and m[3][0] not in "'\"":
            arg = f"{m[1]}{m[2]}={hydra_quoted(m[3])}"
        quoted.append(arg)
    return quoted


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
    if command not in HYDRA_CONFIGS:  # gan report parses its own arguments
        sys.argv = [f"gan {command}", *args[1:]]
        importlib.import_module(COMMANDS[command][0]).main()
        return
    # Hydra reads sys.argv itself; it sees the command's own arguments, and usage lines say `gan <command>`.
    overrides = quote_paths(args[1:])
    with processes(command) as hydra_extra:
        sys.argv = [f"gan {command}", *overrides, *hydra_extra]
        with hydra_errors(command, HYDRA_CONFIGS[command], overrides):
            importlib.import_module(COMMANDS[command][0]).main()


@contextlib.contextmanager
def processes(command: str) -> Iterator[list[str]]:
    """Inside: `gan train` under torchrun has joined the run's processes, all of which name the run folder with rank
    0's start time; yields the Hydra overrides that keep a rank other than 0 from writing into it (its config, its
    log) or printing. Nothing to do outside torchrun."""
    if command != "train":
        yield []
        return
    from gan_cli import distributed, resolvers  # here: torch is not for `gan --help` and `gan report` to wait for

    if not distributed.launched():
        yield []
        return
    with distributed.joined() as ranks:
        resolvers.set_start_time(distributed.start_time(ranks))
        if ranks.writes:
            yield []
            return
        console.quiet = True
        yield ["hydra.output_subdir=null", f"hydra.job_logging.handlers.file.filename={hydra_quoted(os.devnull)}"]


if __name__ == "__main__":
    main()
