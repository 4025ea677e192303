"""'Forget me' against the real servers: a patient who asked questions,
booked and then asks for their data to be deleted leaves no trace of that
conversation in either database, once the clinic has had the request; a
patient who says no keeps everything; other patients are untouched."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import create_engine, inspect, text

from tests.chat import message_text
from tests.servers import wait_for_mail


def sender() -> str:
    return "forget-" + uuid.uuid4().hex[:10]


def texts(messages: list[dict]) -> str:
    """The replies' text with their buttons' titles."""
    return "\n".join(message_text(m) for m in messages)


def every_row(url: str) -> str:
    """Every row of every table in the database at ``url``, as text."""
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as conn:
            return json.dumps(
                {
                    t: [
                        list(map(str, r))
                        for r in conn.execute(text(f"SELECT * FROM {t}"))
                    ]
                    for t in inspect(conn).get_table_names()
                }
            )
    finally:
        engine.dispose()


def book(servers, user: str, name: str, phone: str, concern: str) -> str:
    said = []
    for line in ("does dry needling hurt?", "/book_appointment", name, phone,
                 "skip", "any time", concern, "yes"):  # fmt: skip
        said.append((line, texts(servers.say(user, line))))
    done = said[-1][1]
    assert "reference is " in done, said
    return done.split("reference is ")[1].split(".")[0]


def test_forget_me_leaves_no_trace(servers, inbox, database):
    user, other = sender(), sender()
    reference = book(servers, user, "Zarah", "0412 987 654", "stiff jaw after dentist")
    kept = book(servers, other, "Tomasz", "0413 111 222", "calf cramps")
    wait_for_mail(inbox, reference)
    wait_for_mail(inbox, kept)

    asked = texts(servers.say(user, "please delete my data"))
    assert "can't be undone" in asked and "Yes, delete it" in asked
    done = texts(servers.say(user, "yes"))
    assert "deleted" in done

    conversations = f"sqlite:///{servers.tracker_db}"
    for url in (database, conversations):
        dump = every_row(url)
        for trace in (user, "Zarah", "987 654", "412987654", "stiff jaw", reference):
            assert trace not in dump, (trace, url)
        assert other in dump or "Tomasz" in dump, "another patient was touched"

    # Writing again starts a fresh conversation.
    again = texts(servers.say(user, "hello"))
    assert again and "Zarah" not in again


def test_saying_no_keeps_everything(servers, database):
    user = sender()
    reference = book(
        servers, user, "Hannah", "0414 222 333", "sore shoulder from painting"
    )
    assert "can't be undone" in texts(servers.say(user, "forget me"))
    assert "nothing has been deleted" in texts(servers.say(user, "no"))
    assert reference in every_row(database)
    assert user in every_row(f"sqlite:///{servers.tracker_db}")
