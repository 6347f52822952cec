"""Hydra's errors about a command line, rewritten as one paragraph that names what would work.

Hydra's own page names the problem but not the cure: an unknown key gets "use +KEY=VALUE" (which
gan-cli then refuses as not an option), an unknown group option a bare list, a syntax error a link.
"""

from __future__ import annotations

import difflib
import re
from importlib import resources
from typing import Any

from hydra.errors import HydraException, OverrideParseException
from omegaconf import DictConfig, OmegaConf

from gan_cli.sweep import PLUGINS, not_installed

LIST_GROUPS = ("reg",)  # groups given as a list, added with a +: +reg=[r1,ema]
GRAMMAR = "https://hydra.cc/docs/advanced/override_grammar/basic/"


def explain(error: HydraException, command: str, config_name: str, overrides: list[str]) -> str:
    """One paragraph for `error`, raised by Hydra while reading `gan COMMAND OVERRIDES...`."""
    text = str(error)
    if isinstance(error, OverrideParseException):
        return _unparsable(error, command, overrides)
    if m := re.search(r"Could not (?:find|load) '([^']+)/([^'/]+)'", text):
        if f"{m[1]}/{m[2]}" in PLUGINS:  # a launcher or sweeper of the sweep extra, which is not installed
            return not_installed(f"{m[1]}/{m[2]}")
        return _unknown_option(m[1], m[2], command, getattr(error, "options", None))
    if m := re.search(r"Could not override '([^']+)'\. No match in the defaults list", text):
        return _group_needs_plus(m[1], command, overrides)
    if m := re.search(r"Multiple values for ([\w/]+)\.", text):
        value = _value_of(m[1], overrides) or "OPTION"
        return (
            f"{m[1]} already has an option, so +{m[1]}={value} cannot add another. Choose it without the +: "
            f"gan {command} {m[1]}={value}. {_options_text(m[1])}"
        )
    if m := re.search(r"Could not override '([^']+)'\.", text):
        return _unknown_key(m[1], command, config_name, overrides, _value_of(m[1], overrides))
    if m := re.search(r"Could not delete from config\. '([^']+)' does not exist", text):
        return _unknown_key(m[1], command, config_name, overrides, None)
    if m := re.search(r"Could not append to config\. An item is already at '([^']+)'", text):
        return f"{m[1]} is already an option of gan {command}; set it without the +: {m[1]}={_value_of(m[1], overrides) or '...'}."
    if m := re.search(r"(?:Ambiguous value for argument|Sweep parameters) '([^']+)'", text):
        return _several_values(m[1], command)
    cause = f" ({_first_line(error.__cause__)})" if error.__cause__ else ""
    said = " ".join(text.split("Config search path")[0].split()).rstrip(".")  # the search path is Hydra's internals
    return (
        f"Hydra could not compose gan {command}'s config: {said}{cause}. Check the overrides: "
        f"`gan {command} --help` lists the config groups and options, and {GRAMMAR} the override syntax."
    )


def _several_values(override: str, command: str) -> str:
    how = f"To run one job per value add -m: gan {command} -m {override}. " if command == "train" else ""
    return (
        f"{override} gives several values, but one run takes one value per key. {how}For a list write key=[a,b]; "
        f"for a text that holds a comma, quote it: \"key='a,b'\"."
    )


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _parse(override: str) -> Any:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_override(override)


def _value_of(key: str, overrides: list[str]) -> str | None:
    """The text after `=` of the command line's override of `key` (with or without a + or ++)."""
    for o in overrides:
        k, eq, value = o.partition("=")
        if eq and k.lstrip("+~") == key:
            return value
    return None


def _unparsable(error: OverrideParseException, command: str, overrides: list[str]) -> str:
    culprit = None
    for o in overrides:
        if o.startswith("-"):
            continue
        try:
            _parse(o)
        except Exception:  # noqa: BLE001 - any failure marks this override as the unreadable one
            culprit = o
            break
    what = f"the override {culprit!r}" if culprit else "an override"
    return (
        f"Hydra cannot read {what}: {_first_line(error)}. An override is KEY=VALUE; a value that holds = , [ ] "
        f"{{ }} ( ) quotes or spaces must be quoted for Hydra, inside the shell's quotes, e.g. \"key='a=b,c'\" "
        f"(see {GRAMMAR}). `gan {command} --help` lists the options."
    )


def group_options(group: str) -> list[str]:
    """The options of a config group: the YAML files in conf/GROUP/."""
    folder = resources.files("gan_cli.conf").joinpath(*group.split("/"))
    if not folder.is_dir():
        return []
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def _options_text(group: str, options: list[str] | None = None) -> str:
    options = options or group_options(group)
    where = "" if group.startswith("hydra/") else f" (the files in conf/{group}/)"
    return f"The options of {group}{where} are: {', '.join(options)}." if options else f"{group} has no options."


def _unknown_option(group: str, option: str, command: str, hydra_options: Any) -> str:
    options = group_options(group) or sorted(hydra_options or [])
    closest = difflib.get_close_matches(option, options, n=1)
    guess = f" The closest is {closest[0]}." if closest else ""
    if group in LIST_GROUPS:
        example = f"+{group}=[{closest[0] if closest else options[0] if options else '...'}]"
        do = f"Give a list of them, e.g. gan {command} {example}."
    else:
        do = f"Choose one of them: gan {command} {group}={closest[0] if closest else 'OPTION'}."
    return f"{option!r} is not an option of {group}. {_options_text(group, options)}{guess} {do}"


def _group_needs_plus(group: str, command: str, overrides: list[str]) -> str:
    value = _value_of(group, overrides) or "..."
    if group in LIST_GROUPS and not value.startswith("["):
        value = f"[{value}]"
    return f"{group} is not set by default, so it is added with a +: gan {command} +{group}={value}. {_options_text(group)}"


def _composed(config_name: str, overrides: list[str], with_hydra: bool) -> DictConfig | None:
    """The config as composed with the command line's group choices only (they decide which keys exist)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    choices = [o for o in overrides if re.fullmatch(r"[\w/]+=[\w.]+", o)]  # data=mnist, model=dcgan, ...
    for attempt in (choices, []):
        GlobalHydra.instance().clear()
        try:
            with initialize_config_module("gan_cli.conf", version_base="1.3"):
                return compose(config_name, overrides=attempt, return_hydra_config=with_hydra)
        except Exception:  # noqa: BLE001 - a bad choice among them: fall back to the defaults
            continue
        finally:
            GlobalHydra.instance().clear()
    return None


def _keys(node: Any, prefix: str = "") -> list[str]:
    """Every dotted key of a plain container (lists are values, not levels)."""
    keys = []
    if isinstance(node, dict):
        for k, v in node.items():
            keys.append(f"{prefix}{k}")
            keys += _keys(v, f"{prefix}{k}.")
    return keys


def _options_with(group: str, key: str) -> list[str]:
    """The options of `group` whose own file sets `key` (relative to the group), e.g. cond.g: acgan, concat, projection."""
    folder = resources.files("gan_cli.conf").joinpath(group)
    found = []
    for option in group_options(group):
        text = folder.joinpath(f"{option}.yaml").read_text()
        if not text.startswith("# @package _global_") and OmegaConf.select(OmegaConf.create(text), key) is not None:
            found.append(option)
    return found


def _unknown_key(key: str, command: str, config_name: str, overrides: list[str], value: str | None) -> str:
    cfg = _composed(config_name, overrides, with_hydra=key.startswith("hydra."))
    tree = OmegaConf.to_container(cfg, resolve=False) if cfg is not None else {}
    keys = _keys(tree)
    closest = difflib.get_close_matches(key, keys, n=1, cutoff=0.75)  # data.root -> data_root, stepz -> steps
    said = f"{key} is not an option of gan {command}"
    group, _, rest = key.partition(".")
    if rest and group in tree and (others := _options_with(group, rest)):  # an option of other choices of the group (cond.g under cond=none)
        return (
            f"{key} is not an option of {(chosen := _value_of(group, overrides)) and f'{group}={chosen}' or f'the default {group}'}, but of {group}={', '.join(others)}: "
            f"e.g. gan {command} {group}={others[0]} {key}={value if value is not None else '...'}."
        )
    if closest:
        fix = f"{closest[0]}={value}" if value is not None else closest[0]
        return f"{said}. The closest option is {closest[0]}: {fix}. `gan {command} --help` lists every option with its default."
    parent, node = key, None
    while "." in parent and not isinstance(node, dict):  # the deepest level of the key that exists
        parent = parent.rpartition(".")[0]
        node = _select(tree, parent)
    if not isinstance(node, dict):
        parent, node = "", tree
    listed = sorted(k for k in node if not str(k).startswith("_"))
    where = f" under {parent}" if parent else ""
    return (
        f"{said}. The options{where} are: {', '.join(map(str, listed))}. Check the spelling; "
        f"`gan {command} --help` lists every option with its default."
    )


def _select(tree: dict[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
