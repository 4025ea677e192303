"""Command line: ``python -m bot <command>``."""

from __future__ import annotations

import argparse
import re
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser(
        "serve", help="run the Rasa and action servers and the demo website"
    )
    commands.add_parser("shell", help="chat with the assistant in this terminal")
    commands.add_parser(
        "migrate",
        help="bring the bookings database (DATABASE_URL) to the newest schema",
    )
    process = commands.add_parser(
        "process", help="run one program in the foreground (containers)"
    )
    process.add_argument("name", choices=["rasa", "actions", "web"])
    cluster = commands.add_parser(
        "cluster", help="several Rasa instances behind nginx, PostgreSQL and Redis"
    )
    cluster.add_argument(
        "action",
        nargs="?",
        choices=["start", "reload"],
        default="start",
        help="start the cluster (default), or reload: restart its Rasa "
        "instances one at a time on the current model, without a failed request",
    )
    cluster.add_argument("--instances", type=int, default=2)
    cluster.add_argument("--action-servers", type=int, default=2)

    from bot.console import commands as staff

    staff.add_parser(commands)
    accounts = commands.add_parser("staff", help="reception console accounts")
    account_commands = accounts.add_subparsers(dest="staff_command", required=True)
    add = account_commands.add_parser("add", help="create a staff account")
    add.add_argument("email")
    add.add_argument("--name", default="", help="first name the patients see")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of asking",
    )
    unlock = account_commands.add_parser(
        "unlock",
        help="start an email's failed-login count again and print a one-time "
        "link that lets its owner's browser log in; or, with --address, start "
        "a client address's count again",
    )
    unlock_target = unlock.add_mutually_exclusive_group(required=True)
    unlock_target.add_argument("email", nargs="?")
    unlock_target.add_argument("--address", help="a client address, not an account")

    outbox = commands.add_parser("outbox", help="retry queued clinic notifications")
    outbox.add_argument("action", choices=["deliver"])

    handoff = commands.add_parser("handoff", help="give a paused conversation back")
    handoff.add_argument("action", choices=["resume"])
    handoff.add_argument(
        "conversation",
        help="the handle the handoff email gives (web-3fa9c1d2e4), or the "
        "conversation's id",
    )

    args = parser.parse_args(argv)
    # Read once here and passed to whichever command runs.
    from bot.settings import load_settings

    settings = load_settings()
    if args.command == "handoff":
        return resume_handoff(settings, args.conversation)
    if args.command == "bookings":
        return staff.run(args, settings)
    if args.command == "staff" and args.staff_command == "unlock":
        from bot.console.accounts import AccountError, Accounts, unlock_url

        accounts = Accounts(settings.database_url)
        if args.address:
            had = accounts.unblock_address(args.address)
            print(f"{args.address}: " + ("count started again" if had else "no count"))
            return 0
        try:
            token = accounts.unlock(args.email)
        except AccountError as error:
            print(f"Not unlocked: {error}.", file=sys.stderr)
            return 1
        print(
            f"{args.email}: failed-login count started again. Give its owner this "
            "link (it works once, within a day) to let their browser log in even "
            f"while others are tried:\n{unlock_url(settings.web.public_url, token)}"
        )
        return 0
    if args.command == "staff":
        return staff.add_account(settings, args.email, args.name, args.password_stdin)
    if args.command == "outbox":
        from bot.booking.spool import Spool
        from bot.booking.store import BookingStore
        from bot.clinic.facts import load_clinic
        from bot.notify.outbox import default_senders, flush

        counts = flush(
            BookingStore.from_settings(settings),
            Spool(settings.booking_spool),
            default_senders(settings, load_clinic(settings.clinic_settings)),
        )
        print(
            f"moved {counts['moved']} queued requests into the database, "
            f"sent {counts['sent']}, still queued {counts['failed']}"
        )
        return 0
    if args.command == "serve":
        from bot.ops.serve import serve

        return serve(settings)
    if args.command == "cluster":
        from bot.ops.cluster import reload, run_cluster

        if args.action == "reload":
            return reload(settings)
        return run_cluster(args.instances, args.action_servers, settings)
    if args.command == "process":
        from bot.ops.serve import run_one

        return run_one(args.name, settings)
    if args.command == "shell":
        from bot.ops.serve import shell

        return shell(settings)
    if args.command == "retention":
        from bot.privacy.retention import apply_retention

        counts = apply_retention(settings)
        print(
            f"deleted {counts['conversations']} conversations and "
            f"{counts['booking_requests']} booking requests past their time"
        )
        return 0
    if args.command == "migrate":
        from bot.ops.serve import migrate

        return migrate(settings)
    return 2


def resume_handoff(settings, given: str) -> int:
    """Give a paused conversation back to the assistant, named by the handle
    the handoff email gives (looked up among the handoffs) or by its id.
    Only what staff typed is printed back: the id a handle stands for is
    the widget's key to the patient's chat."""
    from bot.conversation_ids import split_id
    from bot.handoff.queue import HandoffQueue
    from bot.handoff.resume import resume

    if not settings.api_token:
        print("Set RASA_API_TOKEN to the token the Rasa server runs with.")
        return 2
    queue = HandoffQueue(settings.database_url)
    conversation = given
    if HANDLE.fullmatch(given):
        conversation = _by_handle(queue, given)
        if conversation is None:
            print(
                f"No handoff of {given} is held: it may have been answered in "
                "the console, or its patient asked to be forgotten.",
                file=sys.stderr,
            )
            return 1
    channel, _ = split_id(conversation)
    if channel is None:
        print(
            f"{given} has no channel prefix (rest:, web:, "
            "whatsapp:, messenger:, telegram:): a conversation stored before "
            "ids were namespaced. Its patient's new messages start a new "
            "conversation under the prefixed id.",
            file=sys.stderr,
        )
    resume(settings.rasa_api_url, settings.api_token, conversation)
    waiting = queue.open_for(conversation)
    if waiting is not None:
        queue.hand_back(waiting.id)
    print(f"{given} ({channel or 'no channel'}): the assistant answers again")
    return 0


# What bot.channels.ids.handle gives: a namespace and 10 hex digits.
HANDLE = re.compile(r"(?:rest|web|whatsapp|messenger|telegram|old)-[0-9a-f]{10}")


def _by_handle(queue, given: str) -> str | None:
    """The conversation of the newest handoff (waiting ones first) whose
    handle is ``given``."""
    from datetime import datetime, timedelta, timezone

    from bot.conversation_ids import handle

    recent = queue.since(datetime.now(timezone.utc) - timedelta(days=90))
    for handoff in [*reversed(queue.open()), *reversed(recent)]:
        if handle(handoff.conversation_id) == given:
            return handoff.conversation_id
    return None


if __name__ == "__main__":
    sys.exit(main())
