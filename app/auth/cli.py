"""`flask users create` for scripted installs, break-glass password resets, and sealing two-factor
secrets under the current key."""
import click
from flask import Blueprint

from app.auth import services
from app.errors import Conflict
from app.extensions import db
from app.security.roles import Role

cli = Blueprint("users", __name__, cli_group="users")


@cli.cli.command("create")
@click.option("--email", required=True)
@click.option("--name", "display_name", default=None, help="Display name (default: the part before @).")
@click.option("--role", type=click.Choice([r.value for r in Role]), default="user", show_default=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user_command(email, display_name, role, password):
    """Create an account with the given role."""
    if len(password) < 8:
        raise click.UsageError("The password must have at least 8 characters.")
    try:
        user = services.create_user(email, display_name or email.split("@")[0], password, role=role)
    except Conflict as error:
        raise click.ClickException(error.message) from error
    db.session.commit()
    click.echo(f"Created {user.email} ({user.role}).")


@cli.cli.command("reset-password")
@click.option("--email", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def reset_password_command(email, password):
    """Break-glass: set an account's password (works with STUDIO_PASSWORD_LOGIN=off too); its sessions end."""
    from app.auth import password_reset
    from app.errors import NotFound

    if len(password) < 8:
        raise click.UsageError("The password must have at least 8 characters.")
    try:
        user = password_reset.break_glass_reset(email, password)
    except NotFound as error:
        raise click.ClickException(error.message) from error
    click.echo(f"Set a new password for {user.email}; its sessions have ended.")


@cli.cli.command("encrypt-totp-secrets")
def encrypt_totp_secrets_command():
    """Encrypt two-factor secrets still in plain text, and re-encrypt those under an older key of
    STUDIO_TOTP_ENCRYPTION_KEYS, under the current key. Safe to run again and while Studio runs."""
    from app.auth import two_factor

    report = two_factor.reseal_stored_secrets()
    click.echo(f"Encrypted {report.sealed_from_plain} plain-text secret(s); re-encrypted "
               f"{report.sealed_from_old_key} under the current key; {report.already_current} already current.")
    if report.unreadable:
        raise click.ClickException(
            f"{len(report.unreadable)} secret(s) open under no configured key (left unchanged): "
            f"{', '.join(report.unreadable)}. Add the key they were encrypted under (the former SECRET_KEY) "
            "to STUDIO_TOTP_ENCRYPTION_KEYS after the current one, or have these people turn two-factor sign-in "
            "off with a recovery code and set it up again.")
