"""Free ports and throwaway PostgreSQL databases on this machine: what the
test harness (tests/servers.py) and the benchmark (tools/bench/) both need to
start the project's servers side by side."""

from __future__ import annotations

import socket

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_block(size: int) -> int:
    """A port with the next ``size - 1`` ports free too: ``bot cluster`` puts
    its Rasa instances on RASA_PORT + 1 ... RASA_PORT + N."""
    for _ in range(200):
        port = free_port()
        if port + size >= 65536:
            continue
        try:
            for candidate in range(port, port + size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no {size} consecutive free ports found")


def database_url_for(base_url: str, name: str) -> str:
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def _as_admin(base_url: str, statement: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE need it)."""
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT", future=True)
    try:
        with admin.connect() as conn:
            conn.execute(text(statement))
    finally:
        admin.dispose()


def create_database(base_url: str, name: str) -> str:
    """A fresh PostgreSQL database in the server ``base_url`` points at."""
    _as_admin(base_url, f'CREATE DATABASE "{name}"')
    return database_url_for(base_url, name)


def drop_database(base_url: str, name: str) -> None:
    _as_admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stored_bookings(database_url: str) -> int | None:
    """Booking rows in the database; None if the table never appeared."""
    engine = create_engine(database_url, future=True)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM booking_requests")).scalar()
    except SQLAlchemyError:  # no booking table: nothing was ever stored
        return None
    finally:
        engine.dispose()
