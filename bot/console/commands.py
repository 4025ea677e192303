"""Reception's commands: list, show, mark and export booking requests."""

from __future__ import annotations

import json
import sys

from bot.booking.contact import display_phone
from bot.booking.export import export_csv
from bot.booking.records import STATUSES, Booking
from bot.booking.store import BookingStore
from bot.settings import Settings


def _line(b: Booking) -> str:
    when = b.preferred_time.get("label") or "-"
    return (
        f"{b.reference}  {b.status:<9} {b.created_at[:16]}  {b.name:<15} "
        f"{display_phone(b.phone):<15} {when}"
    )


def list_bookings(store: BookingStore, as_json: bool, status: str | None) -> int:
    bookings = store.list(status)
    if as_json:
        print(json.dumps([b.as_dict() for b in bookings], indent=2))
    elif not bookings:
        print("No booking requests" + (f" with status {status}" if status else ""))
    else:
        for b in bookings:
            print(_line(b))
    return 0


def show_booking(store: BookingStore, reference: str) -> int:
    booking = store.get(reference)
    if booking is None:
        print(f"No booking request {reference}", file=sys.stderr)
        return 1
    print(json.dumps(booking.as_dict(), indent=2))
    return 0


def mark_booking(store: BookingStore, reference: str, status: str) -> int:
    try:
        booking = store.mark(reference, status)
    except KeyError:
        print(f"No booking request {reference}", file=sys.stderr)
        return 1
    print(f"{booking.reference} is now {booking.status}")
    return 0


def export_bookings(store: BookingStore, status: str | None) -> int:
    sys.stdout.write(export_csv(store.list(status)))
    return 0


def add_parser(commands) -> None:
    bookings = commands.add_parser("bookings", help="booking requests for reception")
    sub = bookings.add_subparsers(dest="action", required=True)
    listing = sub.add_parser("list")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--status", choices=STATUSES)
    show = sub.add_parser("show")
    show.add_argument("reference")
    mark = sub.add_parser("mark")
    mark.add_argument("reference")
    mark.add_argument("status", choices=STATUSES)
    export = sub.add_parser("export")
    export.add_argument("--csv", action="store_true", required=True)
    export.add_argument("--status", choices=STATUSES)


def run(args, settings: Settings) -> int:
    store = BookingStore.from_settings(settings)
    if args.action == "list":
        return list_bookings(store, args.json, args.status)
    if args.action == "show":
        return show_booking(store, args.reference)
    if args.action == "mark":
        return mark_booking(store, args.reference, args.status)
    return export_bookings(store, args.status)


def add_account(settings: Settings, email: str, name: str, password_stdin: bool) -> int:
    """``python -m bot staff add``: the password is asked twice (or read from
    standard input), never taken from the command line, which ``ps`` shows."""
    import getpass

    from bot.console.accounts import AccountError, Accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("The two passwords differ; nothing was created.")
            return 1
    try:
        account = Accounts(settings.database_url).add(email, password, name)
    except AccountError as error:
        print(f"Not created: {error}.")
        return 1
    print(f"Created the console account {account.email} ({account.first_name}).")
    return 0
