"""The Flask app: Twilio webhooks, CAD events, the action endpoint, the API, the simulator."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from bot import db, logs, runtime
from bot.config import load_settings


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """App factory. `test_config` holds settings by their environment-variable names."""
    env = {**os.environ, **{k: str(v) for k, v in (test_config or {}).items()}}
    settings = load_settings(env)
    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.config["MAX_CONTENT_LENGTH"] = 256 * 1024
    if not app.testing and not os.environ.get("PYTEST_CURRENT_TEST"):
        logs.configure(env.get("LOG_LEVEL", "INFO"))

    rt = runtime.init(settings)
    app.extensions["tenfour"] = rt

    from webhooks import actions, api, cad, errors, health, simulator, twilio

    errors.init_app(app)
    app.register_blueprint(twilio.bp)
    app.register_blueprint(cad.bp)
    app.register_blueprint(actions.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    if settings.sms_backend == "console":
        app.register_blueprint(simulator.bp)

    @app.teardown_appcontext
    def remove_session(_exc: BaseException | None) -> None:
        db.session.remove()

    return app
