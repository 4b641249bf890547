"""Followers are woken when their message changes: by NOTIFY on PostgreSQL (only once the change is
committed), in-process on SQLite; with notifications off there is nothing to wait on."""
from __future__ import annotations

import gc
import uuid

import pytest

from app.chat import notify
from app.extensions import db

pytestmark = pytest.mark.postgres


def test_a_follower_is_woken_only_by_a_committed_change_of_its_message(app):
    message_id, other_id = uuid.uuid4(), uuid.uuid4()
    with app.app_context():
        signal = notify.subscribe(message_id)
        other = notify.subscribe(other_id)
        if db.engine.dialect.name == "postgresql":  # the listener wakes everyone once it listens
            assert signal.wait(0, 10)
        seen, other_seen = signal.version, other.version

        notify.send(db.session, message_id)
        db.session.rollback()
        assert not signal.wait(seen, 0.5)

        notify.send(db.session, message_id)
        db.session.commit()
        notify.sent(db.session, message_id)
        assert signal.wait(seen, 10)
        assert other.version == other_seen


def test_with_notifications_off_followers_only_poll(app):
    app.config["STREAM_NOTIFY"] = False
    with app.app_context():
        assert notify.subscribe(uuid.uuid4()) is None


def test_nobody_following_leaves_nothing_behind(app):
    message_id = uuid.uuid4()
    with app.app_context():
        signal = notify.subscribe(message_id)
        assert notify.subscribe(message_id) is signal
        del signal
        gc.collect()
        assert str(message_id) not in notify._signals
