"""Studio: the application factory."""
from __future__ import annotations

from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import build_config
from app.extensions import (
    configure_sqlite,
    csrf,
    db,
    htmx,
    limiter,
    login_manager,
    mail,
    migrate,
    ping_connections_idle_for,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app: config, extensions, blueprints, error pages, CLI. No work at start-up."""
    app = Flask(
        __name__,
        instance_path=str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(build_config(Path(app.instance_path)))
    app.config.update(overrides or {})
    if app.config["TRUSTED_PROXY_COUNT"]:
        count = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)

    _init_extensions(app)
    _register_blueprints(app)

    from app.errors.handlers import register_error_handlers
    from app.security.headers import install_security_headers

    register_error_handlers(app)
    install_security_headers(app)
    _register_template_helpers(app)
    return app


def _init_extensions(app: Flask) -> None:
    # Import every model module so the metadata (and Alembic) sees all tables.
    from app.models import registry  # noqa: F401

    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            configure_sqlite(db.engine)
    elif not app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("pool_pre_ping"):
        with app.app_context():
            ping_connections_idle_for(db.engine, app.config["DATABASE_PING_AFTER_IDLE_SECONDS"])
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), compare_type=True, render_as_batch=True)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)  # a fresh store per app: memory:// counts start at zero for each one
    mail.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to continue."
    login_manager.session_protection = "basic"


def _register_blueprints(app: Flask) -> None:
    from app.core.converters import IdConverter

    # Before any route is added: every <int:...> is an id, bounded (a huge number is a 404).
    app.url_map.converters["int"] = IdConverter

    from app.account import bp as account_bp
    from app.admin import bp as admin_bp
    from app.ai_models import bp as ai_models_bp
    from app.api import bp as api_bp
    from app.auth import bp as auth_bp
    from app.auth.approval import bp as approval_bp
    from app.auth.cli import cli as users_cli
    from app.billing import bp as billing_bp
    from app.billing.organisation_routes import bp as organisations_bp
    from app.billing.stripe_webhooks import bp as billing_stripe_bp
    from app.chat import bp as chat_bp
    from app.core import bp as core_bp
    from app.folders import bp as folders_bp
    from app.ideas import bp as ideas_bp
    from app.jobs.cli import cli as jobs_cli
    from app.projects import bp as projects_bp
    from app.prompts import bp as prompts_bp
    from app.sharing import bp as sharing_bp
    from app.transfer import bp as transfer_bp
    from app.usage.cli import cli as usage_cli

    for blueprint in (core_bp, auth_bp, account_bp, transfer_bp, chat_bp, folders_bp, sharing_bp, prompts_bp, ideas_bp,
                      projects_bp, admin_bp, ai_models_bp, api_bp, users_cli, jobs_cli, approval_bp, usage_cli,
                      billing_bp, billing_stripe_bp, organisations_bp):
        app.register_blueprint(blueprint)


def _register_template_helpers(app: Flask) -> None:
    from flask_login import current_user

    from app.nav.services import items_for_role

    @app.context_processor
    def navigation_helper():
        # A callable, so only the full page shell queries the navigation.
        def navigation():
            # An account waiting for approval sees no links: every page but the waiting one refuses it.
            signed_in = current_user.is_authenticated and not current_user.is_awaiting_approval
            role = current_user.role if signed_in else None
            # The fingerprint read with the session (auth.services.load_session_user), if it was.
            return items_for_role(role, getattr(current_user, "navigation_version", None))

        return {"navigation": navigation}
