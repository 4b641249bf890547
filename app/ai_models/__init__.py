"""The model registry (seed 003 `ai_models`): which LLMs exist, their prices, who may use them."""
from flask import Blueprint

bp = Blueprint("ai_models", __name__, url_prefix="/admin/models")

from app.ai_models import routes  # noqa: E402,F401
