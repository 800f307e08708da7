"""The code of the official Vi SDK docs (Flows and Runs pages) runs on vi_sync.

Each snippet below is copied verbatim from the docs. The only changes made
before running one are the documented placeholders: the ids ("flow_abc123",
"run_abc123") become ids that exist on the local server, and imports of the
official package (``vi``, ``vi.api.types``) become ``vi_sync``. The client is
made the documented way, ``vi.Client(secret_key=..., organization_id=...,
endpoint=...)``, with ``import vi_sync as vi``.
"""

from __future__ import annotations

import builtins
from typing import Any

import pytest
from run_support import run_meta

import vi_sync as vi
from vi_async.local import LocalServer

IMPORTS = {
    "from vi.api.types import PaginationParams": "from vi_sync import PaginationParams",
    "from vi import ViNotFoundError": "from vi_sync import ViNotFoundError",
}

# -- Flows (docs: "Flows", client.flows) ------------------------------------------------

FLOWS_LIST = [
    """
flows = client.flows.list()

for flow in flows.items:
    print(f"Flow: {flow.flow_id}")
    print(f"Created: {flow.metadata.time_created}")
""",
    """
for page in client.flows.list():
    for flow in page.items:
        print(f"Flow: {flow.flow_id}")
        print(f"  Name: {flow.spec.name}")
        print(f"  Created: {flow.metadata.time_created}")
        print(f"  Blocks: {len(flow.spec.blocks)}")
""",
    """
from datetime import datetime, timedelta

cutoff = (datetime.now() - timedelta(days=7)).timestamp() * 1000

recent_flows = []
for page in client.flows.list():
    for flow in page.items:
        if flow.metadata.time_created > cutoff:
            recent_flows.append(flow)

print(f"Found {len(recent_flows)} recent flows")
""",
    """
all_flows = list(client.flows.list().all_items())
print(f"Total flows: {len(all_flows)}")
""",
]

FLOWS_GET = [
    """
flow = client.flows.get("flow_abc123")

print(f"Flow ID: {flow.flow_id}")
print(f"Name: {flow.spec.name}")
print(f"Blocks: {len(flow.spec.blocks)}")
""",
    """
flow = client.flows.get("flow_abc123")
flow.info()  # Prints formatted flow summary
""",
    """
flow = client.flows.get("flow_abc123")

print(f"Flow: {flow.spec.name}")
print(f"Blocks ({len(flow.spec.blocks)}):")

for i, block in enumerate(flow.spec.blocks, 1):
    print(f"  {i}. {block.block}")
    if block.settings:
        for key, value in list(block.settings.items())[:3]:
            print(f"      {key}: {value}")
""",
    """
flow = client.flows.get("flow_abc123")

# Global settings
print("Global Settings:")
for key, value in flow.spec.settings.items():
    print(f"  {key}: {value}")

# Tolerations
print("\\nTolerations:")
for key, values in flow.spec.tolerations.items():
    print(f"  {key}: {values}")
""",
    """
flow = client.flows.get("flow_abc123")

print(f"Organization: {flow.organization_id}")
print(f"Schema: {flow.spec.schema}")
print(f"ETag: {flow.etag}")

if flow.spec.training_project:
    print(f"Training Project: {flow.spec.training_project}")
""",
]

FLOWS_CREATE = [
    """
flow = client.flows.create(
    spec={
        "name": "My Training Flow",
        "schema": "v1",
        "blocks": [],
        "settings": {},
        "tolerations": {}
    }
)

print(f"Created flow: {flow.flow_id}")
print(f"Name: {flow.spec.name}")
""",
    """
flow = client.flows.create(
    spec={
        "name": "Production Flow",
        "schema": "v1",
        "blocks": [
            {
                "block": "data_loader",
                "settings": {"batch_size": 32},
                "style": {}
            }
        ],
        "settings": {"learning_rate": 0.001},
        "tolerations": {}
    },
    metadata={"environment": "production", "version": "1.0"}
)
""",
]

FLOWS_UPDATE = [
    """
flow = client.flows.update(
    flow_id="flow_abc123",
    spec={"name": "Updated Flow Name"}
)

print(f"Updated: {flow.spec.name}")
""",
    """
flow = client.flows.update(
    flow_id="flow_abc123",
    spec={"training_project": "project_xyz789"},
    metadata={"status": "active"}
)
""",
]

FLOWS_DELETE = [
    """
deleted = client.flows.delete("flow_abc123")
""",
    """
flow = client.flows.get("flow_abc123")
print(f"About to delete flow: {flow.spec.name}")
print(f"  Blocks: {len(flow.spec.blocks)}")

confirm = input("Delete? (yes/no): ")
if confirm.lower() == "yes":
    client.flows.delete("flow_abc123")
    print("Deleted.")
""",
]

# -- Runs (docs: "Runs", client.runs) ---------------------------------------------------

RUNS_LIST = [
    """
runs = client.runs.list()

for run in runs.items:
    print(f"Run: {run.run_id}")
    print(f"Created: {run.metadata.time_created}")
""",
    """
from vi.api.types import PaginationParams

runs = client.runs.list(pagination=PaginationParams(page_size=50))

for run in runs.items:
    print(f"{run.run_id}")
""",
    """
for page in client.runs.list():
    for run in page.items:
        status = "Unknown"
        if run.status.conditions:
            status = run.status.conditions[-1].condition.value
        print(f"{run.run_id}: {status}")
""",
    """
completed_runs = []

for page in client.runs.list():
    for run in page.items:
        if run.status.conditions:
            latest = run.status.conditions[-1]
            if latest.condition.value == "Succeeded":
                completed_runs.append(run)

print(f"Found {len(completed_runs)} completed runs")
""",
    """
all_runs = list(client.runs.list().all_items())
print(f"Total runs: {len(all_runs)}")
""",
]

RUNS_GET = [
    """
run = client.runs.get("run_abc123")

print(f"Run ID: {run.run_id}")
print(f"Organization: {run.organization_id}")
""",
    """
run = client.runs.get("run_abc123")

if run.status.conditions:
    latest = run.status.conditions[-1]
    print(f"Status: {latest.condition.value}")
    print(f"Message: {latest.message}")
""",
    """
run = client.runs.get("run_abc123")

print(f"Flow Name: {run.spec.flow.name}")
print(f"Schema: {run.spec.flow.schema}")
print(f"Blocks: {len(run.spec.flow.blocks)}")

if run.spec.training_project:
    print(f"Training Dataset: {run.spec.training_project}")
""",
    """
run = client.runs.get("run_abc123")
run.info()  # Prints formatted run summary
""",
]

# The docs' hand-written polling loop. It ends with client.get_model(), which is
# the Models API (out of scope): the run it polls is made to fail, so that line
# is never reached and the snippet still runs unchanged.
RUNS_WAIT_LOOP = """
import time

def wait_for_run(run_id: str, max_wait: int = 3600, check_interval: int = 30) -> str:
    \"\"\"Wait for a run to complete and return the final status.\"\"\"
    start_time = time.time()

    while time.time() - start_time < max_wait:
        run = client.runs.get(run_id)

        if run.status.conditions:
            latest = run.status.conditions[-1]
            status = latest.condition.value

            print(f"Status: {status}")

            if status in ["Succeeded", "Failed", "Error", "Cancelled"]:
                return status

        time.sleep(check_interval)

    raise TimeoutError("Run did not complete in time")

status = wait_for_run("run_abc123")
if status == "Succeeded":
    model = client.get_model("run_abc123")
"""

RUNS_CREATE = [
    """
run = client.runs.create(
    flow="flow_abc123",
    training_project="project_xyz789"
)

print(f"Started run: {run.run_id}")
""",
    """
run = client.runs.create(
    flow={
        "name": "Quick Training",
        "schema": "v1",
        "blocks": [],
        "settings": {},
        "tolerations": {}
    }
)
""",
    """
run = client.runs.create(
    flow="flow_abc123",
    metadata={"experiment": "baseline", "version": "1.0"}
)
""",
    """
run = client.runs.start(
    flow="flow_abc123",
    training_project="project_xyz789"
)

print(f"Started run: {run.run_id}")
""",
]

RUNS_UPDATE = [
    """
run = client.runs.update(
    run_id="run_abc123",
    metadata={"experiment": "baseline_v2", "notes": "improved accuracy"}
)
""",
    """
run = client.runs.update(
    run_id="run_abc123",
    spec={"training_project": "project_new123"}
)
""",
]

RUNS_KILL = [
    """
run = client.runs.kill(run_id="run_abc123")
print(f"Run killed at: {run.spec.killed_at}")
""",
    """
run = client.runs.kill(run_id="run_abc123")

updated_run = client.runs.get(run_id="run_abc123")
if updated_run.status.conditions:
    latest = updated_run.status.conditions[-1]
    print(f"Status: {latest.condition.value}")
""",
]

RUNS_DELETE = [
    """
deleted = client.runs.delete(run_id="run_abc123")
print(f"Deleted: {deleted.id}")
""",
    """
from vi import ViNotFoundError

try:
    client.runs.delete(run_id="run_abc123")
    print("Run deleted successfully")
except ViNotFoundError:
    print("Run not found or already deleted")
""",
]


class Docs:
    """Runs doc snippets in one namespace holding a documented vi_sync client."""

    def __init__(self, server: LocalServer) -> None:
        self.client = vi.Client(
            secret_key=server.secret_key,
            organization_id=server.organization_id,
            endpoint=server.endpoint,
        )
        self.namespace: dict[str, Any] = {"client": self.client}

    def run(self, snippet: str, *, flow_id: str = "", run_id: str = "") -> dict[str, Any]:
        for official, ours in IMPORTS.items():
            snippet = snippet.replace(official, ours)
        assert "import vi\n" not in snippet and "from vi." not in snippet
        snippet = snippet.replace('"flow_abc123"', repr(flow_id)).replace(
            '"run_abc123"', repr(run_id)
        )
        exec(compile(snippet, "<vi docs>", "exec"), self.namespace)
        return self.namespace


@pytest.fixture
def docs(vi_server_thread: LocalServer) -> Any:
    d = Docs(vi_server_thread)
    try:
        yield d
    finally:
        d.client.close()


def test_flows_page_snippets(
    docs: Docs, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for snippet in FLOWS_CREATE:
        ns = docs.run(snippet)
    assert ns["flow"].spec.blocks[0].settings == {"batch_size": 32}
    flow_id = ns["flow"].flow_id
    assert "Created flow: " in capsys.readouterr().out

    for snippet in FLOWS_LIST:
        ns = docs.run(snippet)
    out = capsys.readouterr().out
    assert "Found 2 recent flows" in out
    assert "Total flows: 2" in out
    assert f"Flow: {flow_id}" in out
    assert len(ns["all_flows"]) == 2

    for snippet in FLOWS_GET:
        docs.run(snippet, flow_id=flow_id)
    out = capsys.readouterr().out
    assert "Name: Production Flow" in out
    assert "1. data_loader" in out and "batch_size: 32" in out
    assert "learning_rate: 0.001" in out
    assert "Schema: v1" in out and "ETag: " in out

    for snippet in FLOWS_UPDATE:
        ns = docs.run(snippet, flow_id=flow_id)
    assert "Updated: Updated Flow Name" in capsys.readouterr().out
    assert ns["flow"].spec.training_project == "project_xyz789"
    assert ns["flow"].metadata.attributes["status"] == "active"

    first, second = [f.flow_id for f in docs.client.flows.list().all_items()]
    docs.run(FLOWS_DELETE[0], flow_id=first)
    monkeypatch.setattr(builtins, "input", lambda prompt: "yes")
    docs.run(FLOWS_DELETE[1], flow_id=second)
    assert "Deleted." in capsys.readouterr().out
    assert docs.client.flows.list().items == []


def test_runs_page_snippets(docs: Docs, capsys: pytest.CaptureFixture[str]) -> None:
    flow = docs.client.flows.create(spec={"name": "Docs Flow", "schema": "v1", "blocks": []})
    for snippet in RUNS_CREATE:
        ns = docs.run(snippet, flow_id=flow.flow_id)
    assert "Started run: " in capsys.readouterr().out
    assert ns["run"].spec.training_project == "project_xyz789"
    run_ids = [r.run_id for r in docs.client.runs.list().all_items()]
    assert len(run_ids) == 4
    for run_id in run_ids:
        docs.client.runs.wait_for(run_id, timeout=10)

    for snippet in RUNS_LIST:
        docs.run(snippet)
    out = capsys.readouterr().out
    assert f"{run_ids[0]}: Succeeded" in out
    assert "Found 4 completed runs" in out and "Total runs: 4" in out

    for snippet in RUNS_GET:
        docs.run(snippet, run_id=run_ids[0])
    out = capsys.readouterr().out
    assert "Status: Succeeded" in out
    assert "Flow Name: Docs Flow" in out and "Training Dataset: project_xyz789" in out

    failing = docs.client.runs.create(flow=flow.flow_id, metadata=run_meta(outcome="Failed"))
    docs.client.runs.wait_for(failing.run_id, timeout=10)
    docs.run(RUNS_WAIT_LOOP, run_id=failing.run_id)
    assert capsys.readouterr().out.splitlines()[-1] == "Status: Failed"

    for snippet in RUNS_UPDATE:
        ns = docs.run(snippet, run_id=run_ids[1])
    assert ns["run"].metadata.attributes["notes"] == "improved accuracy"
    assert ns["run"].spec.training_project == "project_new123"

    live = docs.client.runs.create(flow=flow.flow_id, metadata=run_meta(running=60))
    docs.run(RUNS_KILL[0], run_id=live.run_id)
    docs.run(RUNS_KILL[1], run_id=live.run_id)
    out = capsys.readouterr().out
    assert "Run killed at: None" not in out and "Status: Cancelled" in out

    docs.run(RUNS_DELETE[0], run_id=live.run_id)
    docs.run(RUNS_DELETE[1], run_id=live.run_id)  # already gone
    docs.run(RUNS_DELETE[1], run_id=run_ids[2])
    out = capsys.readouterr().out
    assert f"Deleted: {live.run_id}" in out
    assert "Run not found or already deleted" in out and "Run deleted successfully" in out
