"""A local stand-in for the Together AI REST API, for tests only.

It implements the documented endpoints the ``together`` SDK (v2+) calls for a
fine-tune, on 127.0.0.1, over real HTTP:

- ``GET  /v1/fine-tunes/models/limits?model_name=M``   model limits (404 for unknown models)
- ``POST /v1/files``                                    302 to an upload URL + ``X-Together-File-Id``
- ``PUT  /upload/<file-id>``                            the file's bytes
- ``POST /v1/files/<file-id>/preprocess`` / ``GET /v1/files/<file-id>``
- ``POST /v1/fine-tunes/estimate-price``, ``POST /v1/fine-tunes``
- ``GET  /v1/fine-tunes/<job-id>``                      status advances one step of ``statuses`` per call
- ``GET  /v1/fine-tunes/<job-id>/events``
- ``GET  /v1/finetune/download?ft_id=..&checkpoint=..`` the ``archive`` bytes (``truncate`` cuts them short,
  ``gzip_encoding`` sends them with ``Content-Encoding: gzip``)

Every request needs ``Authorization: Bearer <api_key>`` (else 401, as Together
answers). Requests are recorded in ``requests`` as ``(method, path, query, body)``.
"""

from __future__ import annotations

import gzip
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

LIMITS = {
    "model_name": "Qwen/Qwen2.5-7B-Instruct",
    "default_gradient_accumulation_steps": 1,
    "max_learning_rate": 1.0,
    "min_learning_rate": 1e-8,
    "max_num_checkpoints": 10,
    "max_num_epochs": 20,
    "max_num_evals": 10,
    "max_seq_length_dpo": 8192,
    "max_seq_length_sft": 32768,
    "merge_output_lora": True,
    "min_max_seq_length": 512,
    "supports_full_training": True,
    "supports_reasoning": False,
    "supports_tools": True,
    "supports_vision": False,
    "full_training": {"max_batch_size": 96, "max_batch_size_dpo": 48, "min_batch_size": 8},
    "lora_training": {"default_rank": 64, "max_batch_size": 128, "max_batch_size_dpo": 64, "max_rank": 64,
                      "min_batch_size": 8, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj",
                                                              "gate_proj", "up_proj", "down_proj"]},
}


@dataclass
class TogetherStandIn:
    """Configurable behaviour of the stand-in; mutate it between requests in a test."""

    api_key: str = "test-key"
    statuses: list[str] = field(default_factory=lambda: ["queued", "running", "running", "completed"])
    archive: bytes = b""
    truncate: bool = False
    reject_jobs: str = ""  # when set, job creation answers 400 with this message
    gzip_encoding: bool = False  # serve the download with Content-Encoding: gzip, as a CDN may
    error_message: str = "CUDA out of memory during step 12"
    requests: list[tuple[str, str, dict[str, list[str]], bytes]] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "TogetherStandIn":
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                standin._handle(self, "GET")

            def do_POST(self) -> None:
                standin._handle(self, "POST")

            def do_PUT(self) -> None:
                standin._handle(self, "PUT")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    # -- protocol -------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(h.path)
        length = int(h.headers.get("content-length") or 0)
        body = h.rfile.read(length) if length else b""
        query = parse_qs(url.query)
        self.requests.append((method, url.path, query, body))
        if not url.path.startswith("/upload/") and h.headers.get("authorization") != f"Bearer {self.api_key}":
            return self._json(h, 401, {"error": {"message": "Invalid API key provided", "type": "invalid_request_error"}})
        parts = [p for p in url.path.split("/") if p]
        route = (method, tuple(parts[:2]))
        if method == "GET" and url.path == "/v1/fine-tunes/models/limits":
            model = query.get("model_name", [""])[0]
            if model != LIMITS["model_name"]:
                return self._json(h, 404, {"error": {"message": f"model {model} not available for fine-tuning"}})
            return self._json(h, 200, LIMITS)
        if method == "POST" and url.path == "/v1/files":
            file_id = f"file-{len(self.uploads) + 1:04d}"
            self.uploads[file_id] = b""
            h.send_response(302)
            h.send_header("Location", f"{self.base_url}/upload/{file_id}")
            h.send_header("X-Together-File-Id", file_id)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return None
        if method == "PUT" and parts[:1] == ["upload"]:
            self.uploads[parts[1]] = body
            return self._json(h, 200, {})
        if route == ("POST", ("v1", "files")) or (method == "GET" and parts[:2] == ["v1", "files"]):
            file_id = parts[2]
            return self._json(h, 200, {"id": file_id, "object": "file", "bytes": len(self.uploads.get(file_id, b"")),
                                       "created_at": 0, "filename": "training.jsonl", "purpose": "fine-tune",
                                       "FileType": "jsonl", "processed": True})
        if method == "POST" and url.path == "/v1/fine-tunes/estimate-price":
            return self._json(h, 200, {"estimation_available": False, "allowed_to_proceed": True})
        if method == "POST" and url.path == "/v1/fine-tunes":
            if self.reject_jobs:
                return self._json(h, 400, {"error": {"message": self.reject_jobs}})
            request = json.loads(body or b"{}")
            job_id = f"ft-{len(self.jobs) + 1:04d}"
            self.jobs[job_id] = {"request": request, "polls": 0}
            return self._json(h, 200, self._job(job_id))
        if method == "GET" and parts[:2] == ["v1", "fine-tunes"] and len(parts) == 3:
            if parts[2] not in self.jobs:
                return self._json(h, 404, {"error": {"message": f"job {parts[2]} not found"}})
            self.jobs[parts[2]]["polls"] += 1
            return self._json(h, 200, self._job(parts[2]))
        if method == "GET" and parts[:2] == ["v1", "fine-tunes"] and parts[3:] == ["events"]:
            return self._json(h, 200, {"data": self._events(parts[2])})
        if method == "GET" and url.path == "/v1/finetune/download":
            data = gzip.compress(self.archive) if self.gzip_encoding else self.archive
            h.send_response(200)
            h.send_header("Content-Type", "application/octet-stream")
            if self.gzip_encoding:
                h.send_header("Content-Encoding", "gzip")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data[: len(data) // 2] if self.truncate else data)
            h.wfile.flush()
            if self.truncate:
                h.close_connection = True
            return None
        return self._json(h, 404, {"error": {"message": f"no route {method} {url.path}"}})

    def _status(self, job_id: str) -> str:
        polls = self.jobs[job_id]["polls"]
        return self.statuses[min(polls, len(self.statuses) - 1)]

    def _job(self, job_id: str) -> dict[str, Any]:
        req = self.jobs[job_id]["request"]
        status = self._status(job_id)
        return {"id": job_id, "status": status, "user_id": "u-1", "model": req.get("model"),
                "n_epochs": req.get("n_epochs"), "epochs_completed": req.get("n_epochs") if status == "completed" else 0,
                "model_output_name": f"user/{req.get('model', '').split('/')[-1]}-{req.get('suffix', 'ft')}",
                "training_file": req.get("training_file")}

    def _events(self, job_id: str) -> list[dict[str, Any]]:
        status = self._status(job_id)
        events = [{"object": "fine-tune-event", "created_at": "2026-11-26T10:00:00Z", "message": "Job queued",
                   "type": "job_pending", "level": "info"}]
        if status in ("running", "completed", "error"):
            events.append({"object": "fine-tune-event", "created_at": "2026-11-26T10:01:00Z", "message": "Training started",
                           "type": "training_start", "level": "info", "step": 10, "total_steps": 40})
        if status == "completed":
            events.append({"object": "fine-tune-event", "created_at": "2026-11-26T10:09:00Z", "message": "Job finished",
                           "type": "job_complete", "level": "info", "step": 40, "total_steps": 40})
        if status == "error":
            events.append({"object": "fine-tune-event", "created_at": "2026-11-26T10:05:00Z", "message": self.error_message,
                           "type": "job_error", "level": "error"})
        return events

    @staticmethod
    def _json(h: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
