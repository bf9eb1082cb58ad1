"""GET /healthz: 200 while the database answers."""

from flask import Blueprint, jsonify
from peewee import PeeweeException

from ..store.db import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        db.execute_sql("SELECT 1").fetchone()
    except PeeweeException:
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok")
