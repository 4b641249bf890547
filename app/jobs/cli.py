"""`flask jobs work`: run background jobs in this process (instead of, or besides, the app's thread)."""
import time

import click
from flask import Blueprint, current_app

from app.extensions import db
from app.jobs import runner

cli = Blueprint("jobs", __name__, cli_group="jobs")


@cli.cli.command("work")
@click.option("--once", is_flag=True, help="Run the jobs waiting now, then exit.")
def work_command(once):
    """Claim and run jobs until stopped (Ctrl-C); with --once, until none is waiting."""
    worker_id = runner.new_worker_id("cli")
    click.echo(f"Working on jobs as {worker_id}.")
    poll = current_app.config["JOBS_POLL_SECONDS"]
    try:
        while True:
            ran = runner.run_pending(worker_id)
            db.session.remove()
            if once:
                click.echo(f"Ran {ran} job{'s' if ran != 1 else ''}.")
                return
            if not ran:
                time.sleep(poll)
    except KeyboardInterrupt:
        click.echo("Stopped.")

