"""What a dask worker runs for the fleet: `fleet_task` relays one request to this worker's
agent (harness/fleet/agent.py) and returns its answer as JSON text.

One agent per dask worker process and run, kept between tasks, so its imports, its
case worker and that worker's cached inputs carry over from case to case as in a local
run. An agent that dies is reported (the case is recorded `crashed` by the coordinator)
and a new one is started for the next request. Answers are JSON text, never pickles of
harness objects, so the coordinator unpickles nothing of the worker's making but str.
"""
from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import threading
from typing import Any

#: Seconds an agent may take to import the harness and build its registry.
AGENT_START_S = 240.0
#: A case request waits for the case's own timeout (the supervisor enforces it) plus this.
CASE_MARGIN_S = 600.0

_lock = threading.Lock()
_agents: dict[str, "AgentProcess"] = {}


class AgentDied(RuntimeError):
    """The agent process ended or went silent before answering."""


class AgentProcess:
    def __init__(self, config_json: str):
        env = {**os.environ, "HARNESS_FLEET_PARENT_PID": str(os.getpid())}
        self.proc = subprocess.Popen([sys.executable, "-m", "harness.fleet.agent"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, text=True, encoding="utf-8")
        self._send(config_json)
        ready = self.read(AGENT_START_S)
        if ready.get("kind") != "ready":
            self.close()
            raise AgentDied(ready.get("message") or f"unexpected first answer {ready!r}")

    def _send(self, line: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(line.replace("\n", " ") + "\n")
            self.proc.stdin.flush()
        except (OSError, ValueError) as exc:
            raise AgentDied(f"cannot reach the agent ({exc})") from None

    def read(self, timeout_s: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout_s):
                self.close()
                raise AgentDied(f"the agent gave no answer within {timeout_s:.0f} s")
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait(10)
            raise AgentDied(f"the agent process ended (exit code {code})")
        return json.loads(line)

    def request(self, request_json: str, timeout_s: float) -> dict[str, Any]:
        self._send(request_json)
        return self.read(timeout_s)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self._send('{"kind": "stop"}')
                self.proc.wait(10)
            except (AgentDied, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(10)


def fleet_task(config_json: str, request_json: str) -> str:
    """Run one request (describe, or one case) on this worker's agent for the run."""
    request = json.loads(request_json)
    timeout = AGENT_START_S + CASE_MARGIN_S + float(json.loads(config_json).get("timeout_s") or 0)
    if request.get("kind") == "case":
        timeout += 2 * float(request.get("timeout_s") or 0)
    with _lock:
        try:
            agent = _agents.get(config_json)
            if agent is None:
                for old in _agents.values():  # an earlier run's agent: one at a time per worker
                    old.close()
                _agents.clear()
                agent = _agents[config_json] = AgentProcess(config_json)
            return json.dumps(agent.request(request_json, timeout))
        except AgentDied as exc:
            dead = _agents.pop(config_json, None)
            if dead is not None:
                dead.close()
            return json.dumps({"kind": "agent_died", "message": str(exc)})


def stop_agents() -> int:
    """Stop this worker's agents (the coordinator calls it when a run ends); how many."""
    with _lock:
        n = len(_agents)
        for agent in _agents.values():
            agent.close()
        _agents.clear()
    return n
