"""'Forget me' against the real servers: a patient who asked questions,
booked and then asks for their data to be deleted leaves no trace of that
conversation in either database, once the clinic has had the request; a
patient who says no keeps everything; other patients are untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

from sqlalchemy import create_engine, inspect, text

from bot import PROJECT_ROOT
from bot.conversation_ids import handle
from tests.chat import message_text
from tests.servers import TOKEN, wait_for_mail


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


def test_the_handoff_email_holds_no_words_and_no_id(servers, inbox, database):
    """An email to staff is forwarded and kept: it says where to answer and
    how to give the chat back, by the conversation's handle, and nothing the
    patient said or the id that would let its reader into the chat."""
    user = sender()
    conversation = f"rest:{user}"
    servers.say(user, "hi, Zarah here, my number is 0412 987 654")
    servers.say(user, "does dry needling hurt?")
    asked = texts(servers.say(user, "can I talk to a real person please"))
    assert "A person will reply" in asked
    [mail] = wait_for_mail(inbox, handle(conversation))
    said = mail["Subject"] + mail.get_payload()
    for trace in (user, "Zarah", "987 654", "412987654", "dry needling hurt"):
        assert trace not in said, trace
    assert f"python -m bot handoff resume {handle(conversation)}" in said
    assert servers.say(user, "hello? anyone there?") == [], "waiting for a person"

    env = {
        **os.environ,
        "DATABASE_URL": database,
        "RASA_PORT": str(servers.rasa_port),
        "RASA_API_TOKEN": TOKEN,
    }
    resumed = subprocess.run(
        [sys.executable, "-m", "bot", "handoff", "resume", handle(conversation)],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert user not in resumed.stdout + resumed.stderr
    assert servers.say(user, "does it hurt?"), "the assistant answers again"
