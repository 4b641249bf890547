"""Flask extensions, created here and bound to the app in create_app()."""
import time

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import MetaData, event, exc
from sqlalchemy.orm import DeclarativeBase

# Deterministic constraint names so migrations are identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
mail = Mail()  # MAIL_* settings; mails are sent by the job runner (app/core/mail.py)
htmx = Htmx()  # request.htmx: HX-Request, HX-Target, HX-Boosted, history restore
# Limits are declared on the routes (app/security/rate_limits.py); storage and switch come from config.
limiter = Limiter(key_func=get_remote_address)


def ping_connections_idle_for(engine, seconds: float) -> None:
    """Check a pooled connection is alive before handing it out, but only when it has sat unused
    for `seconds`: SQLAlchemy's `pool_pre_ping` pings at every checkout, a round trip to the
    database (and a wake-up of its backend) per transaction, about a fifth of a streamed answer's
    round trips. A connection used a moment ago is alive or the whole pool is invalidated by the
    first disconnect error anyway; one idle longer (a database restart, a proxy's idle timeout) is
    pinged, and a dead one is replaced before the request sees it (the pool retries on
    DisconnectionError)."""

    @event.listens_for(engine, "checkin")
    def remember_checkin(_dbapi_connection, record):
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection, record, _proxy):
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is not None and time.monotonic() - checked_in_at < seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.DisconnectionError("the pooled connection was dead") from error


def configure_sqlite(engine) -> None:
    """SQLite as a server-side database: WAL so readers never block the writer of a streaming
    answer, a busy timeout (a writer waits up to 10 s for the lock, then the request answers 503)
    and foreign keys enforced."""

    @event.listens_for(engine, "connect")
    def set_pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
