"""``valence config``: read and write the TOML config file in the valence home.

The commands are registered (with the CLI's error handling) in ``valence.cli.main``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import tomllib
import typer

from valence import configfile
from valence.config import get_config, home_dir, set_config

config_app = typer.Typer(
    help="The configuration (valence.toml in the valence home; environment variables win).",
    no_args_is_help=True,
)


def parse_value(text: str) -> Any:
    """A TOML value (``4``, ``true``, ``"x"``, ``[1, 2]``), else the text as a string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def _flatten(table: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(_flatten(value, dotted + "."))
        else:
            rows.append((dotted, value))
    return rows


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def get(
    key: Annotated[str, typer.Argument(help="a dotted key, e.g. executors.local.workers")],
) -> None:
    """Print one key's value (a table prints as key = value lines)."""
    value = get_config(key)
    if isinstance(value, dict):
        for dotted, item in _flatten(value, key + "."):
            typer.echo(f"{dotted} = {_show(item)}")
    else:
        typer.echo(_show(value))


def set_(
    key: Annotated[str, typer.Argument(help="a dotted key, e.g. executors.local.workers")],
    value: Annotated[str, typer.Argument(help='a TOML value (4, true, "text") or plain text')],
) -> None:
    """Write one key to the config file."""
    set_config(key, parse_value(value))
    typer.echo(f"{key} = {_show(get_config(key))}")


def list_() -> None:
    """Every key with its effective value, and the file they come from."""
    typer.echo(f"# {configfile.config_path(home_dir())}")
    for dotted, value in _flatten(get_config()):
        typer.echo(f"{dotted} = {_show(value)}")
