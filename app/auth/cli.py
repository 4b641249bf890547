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
