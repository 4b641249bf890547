"""`flask users create` for scripted installs."""
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
