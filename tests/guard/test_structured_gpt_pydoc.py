"""Acceptance: 200 completions for 5 bounded JSON schemas from gpt-pydoc all parse and validate.

gpt-pydoc is trained here with the default recipe cut to a few iterations (the constraint, not
the model's quality, is what guarantees valid JSON), then served by a real server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from jsonschema import Draft202012Validator

from tests.e2e.server import Server, new_admin_key
from tests.guard.test_guard_live import SCHEMAS


def test_gpt_pydoc_structured_200(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "AIGC_DATA_DIR": str(data), "AIGC_GPT_PYDOC_ITERS": "40"}
    trained = subprocess.run(
        [sys.executable, "-m", "aigc.cli", "train", "gpt-pydoc"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    srv = Server(data, new_admin_key()).start()
    try:
        client = srv.sdk(srv.admin_key)
        listed = {m.id: m for m in client.models.list()}
        assert listed["gpt-pydoc"].model_extra["status"] == "ready"  # type: ignore[index]
        for i in range(200):
            schema = SCHEMAS[i % len(SCHEMAS)]
            reply = client.chat.completions.create(
                model="gpt-pydoc",
                messages=[{"role": "user", "content": "Describe a Python list as JSON."}],
                max_tokens=512,
                seed=i,
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "s", "schema": schema, "strict": True},
                },
            )  # type: ignore[call-overload]
            content = reply.choices[0].message.content or ""
            Draft202012Validator(schema).validate(json.loads(content))
    finally:
        srv.stop()
