"""`flask usage rollup`: rebuild the daily usage roll-ups from the recorded provider calls."""
import click
from flask import Blueprint

from app.usage import services

cli = Blueprint("usage", __name__, cli_group="usage")


@cli.cli.command("rollup")
def rollup():
    """Rebuild cost_aggregations from model_requests (they are kept exact as calls are recorded)."""
    written = services.rebuild()
    click.echo(f"Wrote {written} roll-up rows.")
