"""``python -m gerbil_eval.serving --config_file FILE``: run the server described by FILE.

FILE is llama-cpp-python's server config (``host``, ``port``, ``models``, ...) plus one
key of ours, ``"gerbil"`` (:class:`~.app.ServingOptions`), which is taken out before
llama-cpp-python validates the rest.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import uvicorn
from llama_cpp.server.settings import ConfigFileSettings, ServerSettings

from .app import ServingOptions, create_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m gerbil_eval.serving", description=__doc__.splitlines()[0])
    parser.add_argument("--config_file", type=Path, required=True, help="the server's JSON config")
    args = parser.parse_args()
    raw = json.loads(args.config_file.read_text(encoding="utf-8"))
    options = ServingOptions.from_config(raw.pop("gerbil", {}))
    config = ConfigFileSettings.model_validate(raw)
    server_settings = ServerSettings.model_validate(config)
    app = create_app(server_settings, config.models, options)
    uvicorn.run(app, host=server_settings.host, port=server_settings.port)


if __name__ == "__main__":
    main()
