"""The demo landing page that `make run` shows first."""

from flask import Blueprint, current_app, render_template

bp = Blueprint("demo", __name__)


@bp.get("/")
def index():
    """Show the demo landing page."""
    return render_template("demo/index.html", sites=current_app.extensions["sites"].sites.values())
