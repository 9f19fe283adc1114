"""Admin command line: accounts, keys, groups, memberships, credits and default identities.

It talks to the same table as the API, through the same environment
(LIKENESS_TABLE_NAME, AWS_ENDPOINT_URL, ...). For the local stack: `make admin ARGS="..."`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from likeness.accounts.models import DEFAULT_SCOPES, PLANS, PLATFORM_ACCOUNT_ID, Caller, Scope
from likeness.errors import LikenessError


def _out(payload: Any) -> None:
    print(json.dumps(payload, indent=2, default=str))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="likeness-admin", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    account = sub.add_parser("account-create", help="create an account and its first API key")
    account.add_argument("--name", required=True)
    account.add_argument("--plan", default="free", choices=sorted(PLANS))
    account.add_argument("--credits", type=int, default=0)
    account.add_argument("--account-id", help="fixed id (default: generated)")
    account.add_argument(
        "--scope",
        action="append",
        choices=[s.value for s in Scope],
        help="scopes of the first key (repeatable; default read+write)",
    )

    show = sub.add_parser("account-show", help="show an account, its keys and groups")
    show.add_argument("account_id")

    plan = sub.add_parser("plan-set", help="move an account to another plan")
    plan.add_argument("account_id")
    plan.add_argument("plan", choices=sorted(PLANS))

    key = sub.add_parser("key-create", help="issue another API key for an account")
    key.add_argument("account_id")
    key.add_argument("--scope", action="append", choices=[s.value for s in Scope])
    key.add_argument("--label", default="")
    key.add_argument("--demo", action="store_true", help="a demo sandbox key (no metered image probes)")

    revoke = sub.add_parser("key-revoke", help="revoke an API key by its key id")
    revoke.add_argument("account_id")
    revoke.add_argument("key_id")

    group = sub.add_parser("group-create", help="create a group of accounts")
    group.add_argument("name")

    member = sub.add_parser("group-add", help="add an account to a group")
    member.add_argument("group")
    member.add_argument("account_id")

    unmember = sub.add_parser("group-remove", help="remove an account from a group")
    unmember.add_argument("group")
    unmember.add_argument("account_id")

    credits = sub.add_parser("credits-add", help="add credits to an account")
    credits.add_argument("account_id")
    credits.add_argument("amount", type=int)

    default = sub.add_parser("default-identity-add", help="seed a platform (default) identity from a photo")
    default.add_argument("--name", required=True)
    default.add_argument("--file", required=True, type=Path)
    return parser


def run(argv: list[str] | None = None) -> int:
    from likeness.accounts.bootstrap import ensure_platform_account
    from likeness.wiring import account_service, identity_service

    args = _parser().parse_args(argv)
    accounts = account_service()
    ensure_platform_account(accounts)
    scopes = args.scope if getattr(args, "scope", None) else [s.value for s in DEFAULT_SCOPES]

    if args.command == "account-create":
        acc = accounts.create_account(
            name=args.name, plan=args.plan, credits=args.credits, account_id=args.account_id
        )
        issued = accounts.issue_key(account_id=acc.account_id, scopes=scopes, label="first")
        _out(
            {
                "account_id": acc.account_id,
                "plan": acc.plan,
                "credits": acc.credits,
                "key_id": issued.key_id,
                "api_key": issued.api_key,
                "scopes": issued.scopes,
            }
        )
    elif args.command == "account-show":
        acc = accounts.get_account(args.account_id)
        _out(
            {
                **acc.__dict__,
                "keys": accounts.list_keys(acc.account_id),
                "groups": accounts.groups_of(acc.account_id),
            }
        )
    elif args.command == "plan-set":
        _out(accounts.set_plan(account_id=args.account_id, plan=args.plan).__dict__)
    elif args.command == "key-create":
        issued = accounts.issue_key(
            account_id=args.account_id, scopes=scopes, label=args.label, demo=args.demo
        )
        _out({"key_id": issued.key_id, "api_key": issued.api_key, "scopes": issued.scopes})
    elif args.command == "key-revoke":
        accounts.revoke_key(account_id=args.account_id, key_id=args.key_id)
        _out({"revoked": args.key_id})
    elif args.command == "group-create":
        accounts.create_group(args.name)
        _out({"group": args.name})
    elif args.command == "group-add":
        accounts.add_member(group=args.group, account_id=args.account_id)
        _out({"group": args.group, "added": args.account_id})
    elif args.command == "group-remove":
        accounts.remove_member(group=args.group, account_id=args.account_id)
        _out({"group": args.group, "removed": args.account_id})
    elif args.command == "credits-add":
        _out(
            {
                "account_id": args.account_id,
                "credits": accounts.add_credits(account_id=args.account_id, amount=args.amount),
            }
        )
    elif args.command == "default-identity-add":
        from likeness.identities.models import IdentityCreate, Visibility

        admin = Caller(
            account_id=PLATFORM_ACCOUNT_ID,
            plan="platform",
            key_id="admin-cli",
            scopes=frozenset({Scope.ADMIN.value}),
        )
        created = identity_service().upload_identity(
            caller=admin,
            create=IdentityCreate(name=args.name, visibility=Visibility.DEFAULT),
            data=args.file.read_bytes(),
        )
        _out(created.model_dump())
    return 0


def main(argv: list[str] | None = None) -> int:
    from likeness.observability import logs_to_stderr

    with logs_to_stderr():  # stdout is the command's JSON, for scripts and jq
        try:
            return run(argv)
        except LikenessError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    raise SystemExit(main())
