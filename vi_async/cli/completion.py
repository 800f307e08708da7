"""Shell completion scripts, generated from the argument parser itself.

Guarantee: the scripts name exactly the commands and options that the parser
accepts (they are read from it, never written by hand), so completion cannot
drift from the command line. ``vi-async completion bash|zsh|fish`` prints one;
zsh uses the bash script through ``bashcompinit``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import attrs

__all__ = ["SHELLS", "CommandNode", "Option", "script", "walk"]

SHELLS = ("bash", "zsh", "fish")


@attrs.frozen
class Option:
    """One option of a command.

    Attributes:
        names: Every spelling (``("--yes", "-y")``).
        summary: Its help.
        takes_value: Whether a value follows it.
        choices: The values it accepts, when they are listed.
    """

    names: tuple[str, ...]
    summary: str
    takes_value: bool
    choices: tuple[str, ...]


@attrs.frozen
class CommandNode:
    """One command of the parser: its words and what may follow them.

    Attributes:
        path: Its words after the program's name (``("flows", "list")``; ``()``: the top).
        summary: Its one-line help.
        commands: The names of its subcommands, or the values its argument
            may take when they are listed (``completion bash|zsh|fish``).
        options: Its options.
    """

    path: tuple[str, ...]
    summary: str
    commands: tuple[str, ...]
    options: tuple[Option, ...]


def _options(parser: argparse.ArgumentParser) -> tuple[Option, ...]:
    return tuple(
        Option(
            tuple(action.option_strings),
            action.help or "",
            action.nargs != 0,
            tuple(str(choice) for choice in action.choices or ()),
        )
        for action in parser._actions
        if action.option_strings and action.help != argparse.SUPPRESS
    )


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            return {name: (sub, helps.get(name, "")) for name, sub in action.choices.items()}
    return {}


def walk(
    parser: argparse.ArgumentParser,
    path: tuple[str, ...] = (),
    summary: str = "",
    extra: dict[str, argparse.ArgumentParser] | None = None,
) -> Iterator[CommandNode]:
    """Every command of ``parser``, the top first.

    Args:
        parser: The parser (``build_parser()``).
        path: The words leading to it.
        summary: Its one-line help.
        extra: Parsers standing in for commands that parse their own arguments
            (``local``), by name.

    Yields:
        One node per command.
    """
    subs = _subparsers(parser)
    values = [
        str(choice)
        for action in parser._actions
        if not action.option_strings and not isinstance(action, argparse._SubParsersAction)
        for choice in action.choices or ()
    ]
    yield CommandNode(path, summary, (*subs, *values), _options(parser))
    for name, (sub, sub_help) in subs.items():
        stand_in = (extra or {}).get(name) if not path else None
        yield from walk(stand_in or sub, (*path, name), sub_help, extra)


def _words(node: CommandNode) -> str:
    return " ".join([*node.commands, *(name for option in node.options for name in option.names)])


def _bash(nodes: list[CommandNode], prog: str) -> str:
    func = "_" + prog.replace("-", "_") + "_complete"
    known = "|".join(sorted({'"' + " ".join(n.path) + '"' for n in nodes if n.path}))
    options = [option for node in nodes for option in node.options]
    valued = sorted({name for o in options if o.takes_value for name in o.names})
    choices = {name: " ".join(o.choices) for o in options if o.choices for name in o.names}
    lines = [
        f'# bash completion for {prog}: eval "$({prog} completion bash)"',
        f"{func}() {{",
        '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"',
        '    local path="" word i',
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        '        word="${COMP_WORDS[i]}"',
        '        case "$word" in',
        f"            {'|'.join(valued)}) ((i++)); continue ;;",
        "            -*) continue ;;",
        "        esac",
        '        case "${path:+$path }$word" in',
        f'            {known}) path="${{path:+$path }}$word" ;;',
        "        esac",
        "    done",
        '    local words=""',
        '    case "$prev" in',
        *(f'        {opt}) words="{c}" ;;' for opt, c in sorted(choices.items())),
        f"        {'|'.join(sorted(set(valued) - set(choices)))}) COMPREPLY=(); return ;;",
        "        *)",
        '            case "$path" in',
        *(f'                "{" ".join(n.path)}") words="{_words(n)}" ;;' for n in nodes),
        "            esac ;;",
        "    esac",
        '    COMPREPLY=($(compgen -W "$words" -- "$cur"))',
        "}",
        f"complete -o default -F {func} {prog}",
    ]
    return "\n".join(lines) + "\n"


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish(nodes: list[CommandNode], prog: str) -> str:
    lines = [
        f"# fish completion for {prog}: {prog} completion fish | source",
        f"complete -c {prog} -e",
    ]
    for node in nodes:
        if not node.path:
            where = "__fish_use_subcommand"
        else:
            seen = [f"__fish_seen_subcommand_from {word}" for word in node.path]
            where = "; and ".join(seen)
            if node.commands:
                where += f"; and not __fish_seen_subcommand_from {' '.join(node.commands)}"
        sub_nodes = {n.path[-1]: n for n in nodes if n.path[:-1] == node.path and n.path}
        for name in node.commands:
            summary = sub_nodes[name].summary if name in sub_nodes else ""
            lines.append(
                f"complete -c {prog} -f -n {_fish_quote(where)} -a {name} -d {_fish_quote(summary)}"
            )
        for o in node.options:
            flags = " ".join(f"-l {n[2:]}" if n[1] == "-" else f"-s {n[1:]}" for n in o.names)
            values = " -x -a " + _fish_quote(" ".join(o.choices)) if o.choices else " -r"
            lines.append(
                f"complete -c {prog} -n {_fish_quote(where)} {flags}"
                f"{values if o.takes_value else ''} -d {_fish_quote(o.summary)}"
            )
    return "\n".join(lines) + "\n"


def script(
    shell: str,
    parser: argparse.ArgumentParser,
    extra: dict[str, argparse.ArgumentParser] | None = None,
) -> str:
    """The completion script of ``parser`` for ``shell``.

    Args:
        shell: ``bash``, ``zsh`` or ``fish``.
        parser: The command line's parser; its ``prog`` is the command completed.
        extra: Parsers of commands that parse their own arguments, by name.

    Returns:
        The script, to be evaluated by the shell.

    Raises:
        ValueError: An unknown shell.
    """
    nodes = list(walk(parser, extra=extra))
    prog = parser.prog
    if shell == "bash":
        return _bash(nodes, prog)
    if shell == "zsh":
        head = f'# zsh completion for {prog}: eval "$({prog} completion zsh)"\n'
        return head + "autoload -U +X bashcompinit && bashcompinit\n" + _bash(nodes, prog)
    if shell == "fish":
        return _fish(nodes, prog)
    raise ValueError(f"unknown shell {shell!r} (choose from {', '.join(SHELLS)})")
