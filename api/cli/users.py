"""``gridmap users`` — the people who sign in to the workbench: add, list, disable, passwd.

The first admin is made here (there is no default password anywhere).  A password is typed
twice at a hidden prompt, or read from the first line of standard input with
``--password-stdin`` (scripts); it is never an argument (a process list or a shell history
would show it).  Each change is written to the audit log without the password.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from api.cli.common import audit_change, console, database

users_app = typer.Typer(
    help="Users who sign in to the workbench (网格管理工作台).", no_args_is_help=True
)

PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of stdin"),
]


def _password(from_stdin: bool) -> str:
    """The password: stdin's first line, else typed twice at a hidden prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("密码 (password)", hide_input=True, confirmation_prompt=True)


def _user_change(action: str, change: Callable[[Any], Any]) -> Any:
    """Run ``change(conn)`` in a transaction that also writes its audit entry (who: the OS
    user at the CLI; what: the user's id, name, role and scope — never a password)."""
    with database(prepared=True) as engine, engine.begin() as conn:
        info = change(conn)
        audit_change(
            conn,
            f"users {action}",
            f"user {info.id}",
            {"id": info.id, "username": info.username, "role": info.role, "scope": info.scope},
        )
    return info


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The username")],
    role: Annotated[str, typer.Option(help="viewer, editor or admin")],
    scope: Annotated[
        str | None,
        typer.Option(help="Code of the county, street or community they may change (default: all)"),
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a user who signs in at /login with NAME and a password (at least 10 characters)."""
    from gis.access.users import create_user

    password = _password(password_stdin)
    info = _user_change("add", lambda conn: create_user(conn, name, password, role, scope))
    where = f"，范围 {info.scope}" if info.scope else "，范围 全部"
    console.print(
        f"已添加用户 {info.id} {info.username}（{info.role}{where}） (added user {info.id})",
        markup=False,
    )


def _when(moment: Any) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


@users_app.command("list")
def users_list() -> None:
    """List the users: id, role, scope, created, status — never a password or its hash."""
    from rich.table import Table
    from rich.text import Text

    from gis.access.users import list_users

    with database(prepared=True) as engine, engine.connect() as conn:
        found = list_users(conn)
    if not found:
        console.print(
            "没有用户；用 gridmap users add NAME --role admin 添加 (no users yet)", markup=False
        )
        return
    table = Table("id", "用户名 username", "角色 role", "范围 scope", "创建 created", "状态 status")
    for user in found:
        status = f"disabled {_when(user.disabled_at)}" if user.disabled_at else user.status
        cells = (str(user.id), user.username, user.role, user.scope or "全部")
        table.add_row(*map(Text, (*cells, _when(user.created_at), status)))  # names as text
    console.print(table, markup=False)


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(metavar="NAME")]) -> None:
    """Disable user NAME: they can no longer sign in, and their sessions end at once."""
    from gis.access.users import disable_user, get_user

    info = _user_change("disable", lambda conn: disable_user(conn, get_user(conn, name).id))
    console.print(f"已停用用户 {info.username} (disabled user {info.id})", markup=False)


@users_app.command("passwd")
def users_passwd(
    name: Annotated[str, typer.Argument(metavar="NAME")], password_stdin: PasswordStdin = False
) -> None:
    """Set a new password for user NAME; their sessions end (they sign in again)."""
    from gis.access.users import get_user, set_password

    password = _password(password_stdin)
    info = _user_change(
        "passwd", lambda conn: set_password(conn, get_user(conn, name).id, password)
    )
    console.print(f"已为 {info.username} 设置新密码 (new password set)", markup=False)
