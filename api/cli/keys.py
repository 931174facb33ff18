"""``gridmap keys`` — API keys, each change written to the audit log — and ``gridmap audit``."""

from __future__ import annotations

import getpass
import json
from typing import Annotated, Any

import typer

from api.cli.common import audit_change, console, database

keys_app = typer.Typer(help="API keys.", no_args_is_help=True)


def _key_change(action: str, change: Any) -> Any:
    """Run ``change(conn)`` on the database in a transaction that also writes its audit
    entry (who: the OS user at the CLI); return what it returned."""
    with database(prepared=True) as engine, engine.begin() as conn:
        done = change(conn)
        info = done[0] if isinstance(done, tuple) else done
        audit_change(
            conn,
            f"keys {action}",
            f"key {info.id}",
            {"id": info.id, "name": info.name, "role": info.role, "scope": info.scope},
        )
    return done


def _when(moment: Any) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="viewer, editor or admin")],
    name: Annotated[str | None, typer.Option(help="Who or what uses the key")] = None,
    expires: Annotated[
        str | None, typer.Option(help="Lifetime such as 30d, 12h or 2w (default: never)")
    ] = None,
    scope: Annotated[
        str | None,
        typer.Option(
            help="Code of the county, street or community whose regions the key may change "
            "(default: everywhere)"
        ),
    ] = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from gis.access.auth import issue_key, parse_expiry

    lifetime = parse_expiry(expires) if expires else None
    label = name or f"{role}@{getpass.getuser()}"
    _, key = _key_change(
        "create",
        lambda conn: issue_key(conn, role=role, name=label, expires_in=lifetime, scope=scope),
    )
    print(key)


@keys_app.command("list")
def keys_list() -> None:
    """List the API keys: id, role, scope (* everywhere), created, status, expiry, last use
    (to the minute), name — never the key or its hash."""
    from gis.access.auth import list_keys

    with database(prepared=True) as engine, engine.connect() as conn:
        keys = list_keys(conn)
    if not keys:
        console.print("没有 API 密钥；用 gridmap keys create 创建 (no API keys yet)", markup=False)
        return
    console.print(
        f"{'id':>4}  {'role':6s}  {'scope':14s}  {'created':16s}  {'status':16s}  {'expires':16s}  "
        f"{'last used':16s}  name",
        markup=False,
        soft_wrap=True,
    )
    for key in keys:
        status = f"revoked {_when(key.revoked_at)}" if key.revoked_at else key.status
        console.print(
            f"{key.id:>4}  {key.role:6s}  {key.scope or '*':14s}  {_when(key.created_at)}  "
            f"{status:16s}  "
            f"{_when(key.expires_at):16s}  {_when(key.last_used_at):16s}  {key.name}",
            markup=False,
            soft_wrap=True,
        )


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(metavar="ID", help="From keys list")],
) -> None:
    """Revoke API key ID: requests with it (and its browser sessions) get 401 from then on."""
    from gis.access.auth import revoke_key

    key = _key_change("revoke", lambda conn: revoke_key(conn, key_id))
    console.print(
        f"已吊销密钥 {key.id}（{key.name}，{key.role}） (revoked key {key.id})", markup=False
    )


@keys_app.command("rotate")
def keys_rotate(
    key_id: Annotated[int, typer.Argument(metavar="ID", help="From keys list")],
) -> None:
    """Give API key ID a new secret and print it once; the old one gets 401 from then on
    (same id, name, role and expiry)."""
    from gis.access.auth import rotate_key

    _, key = _key_change("rotate", lambda conn: rotate_key(conn, key_id))
    print(key)


def audit_log(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many entries")] = 50,
    actor: Annotated[str | None, typer.Option(help="Only this key name (or user@cli)")] = None,
) -> None:
    """The audit log, newest first: when, who, from where, what, what changed."""
    from gis.access.audit import list_entries

    with database(prepared=True) as engine, engine.connect() as conn:
        entries, total = list_entries(conn, limit=limit, actor=actor)
    if not entries:
        console.print("审计日志为空 (the audit log is empty)", markup=False)
        return
    for e in entries:
        details = json.dumps(e["details"], ensure_ascii=False)
        console.print(
            f"{e['id']:>6}  {e['at'][:19]}  {e['actor']}  {e['address'] or '-'}  "
            f"{e['action']}  {e['status'] or ''}  {details}",
            markup=False,
            soft_wrap=True,
        )
    console.print(f"{len(entries)} of {total}", markup=False)
