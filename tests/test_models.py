"""Decoding and encoding of models: tolerance, strictness, and the official structs."""

from __future__ import annotations

from typing import Any

import pytest

from vi_async import ConditionName, Flow, FlowSpec, Run, RunPhase, ViDecodeError
from vi_async._convert import structure, unstructure

RUN: dict[str, Any] = {
    "kind": "Run",
    "workspaceId": "org",
    "runId": "run-1",
    "selfLink": "/workspaces/org/runs/run-1",
    "etag": "e1",
    "spec": {
        "flow": {
            "name": "n",
            "schema": "v1",
            "tolerations": {"gpu": ["a"]},
            "settings": {"x": 1},
            "blocks": [{"block": "b", "settings": {}, "style": {}}],
            "trainingProject": None,
        },
        "killedAt": None,
        "trainingProject": "proj",
    },
    "status": {
        "log": "",
        "observedGeneration": 1,
        "conditions": [
            {"condition": "Pending", "status": "Reached", "lastTransitionTime": 1},
            {"condition": "Running", "status": "Reached", "lastTransitionTime": 2},
        ],
    },
    "metadata": {"timeCreated": 1, "lastUpdated": 2, "generation": 1, "attributes": {}},
}


def _with_condition(name: str, status: str = "Reached", killed_at: int | None = None) -> Run:
    data = {
        **RUN,
        "status": {
            **RUN["status"],
            "conditions": [{"condition": name, "status": status, "lastTransitionTime": 3}],
        },
    }
    data["spec"] = {**RUN["spec"], "killedAt": killed_at}
    return structure(data, Run)


def test_unknown_fields_are_ignored() -> None:
    data = {**RUN, "newTopLevel": {"a": 1}, "spec": {**RUN["spec"], "future": True}}
    run = structure(data, Run)
    assert run.run_id == "run-1"
    assert run.spec.training_project == "proj"


@pytest.mark.parametrize(
    ("name", "status", "phase"),
    [
        ("Pending", "Reached", RunPhase.PENDING),
        ("Running", "Reached", RunPhase.RUNNING),
        ("Started", "Reached", RunPhase.RUNNING),
        ("Succeeded", "Reached", RunPhase.SUCCEEDED),
        ("Finished", "Reached", RunPhase.SUCCEEDED),
        ("Failed", "Reached", RunPhase.FAILED),
        ("Error", "Reached", RunPhase.ERROR),
        ("Cancelled", "Reached", RunPhase.CANCELLED),
        ("Running", "FailedReach", RunPhase.FAILED),
        ("Hibernating", "Reached", RunPhase.UNKNOWN),
        ("Running", "SomethingNew", RunPhase.RUNNING),
    ],
)
def test_phase_from_the_latest_condition(name: str, status: str, phase: RunPhase) -> None:
    run = _with_condition(name, status)
    assert run.phase is phase
    assert run.is_terminal == phase.is_terminal
    assert run.status.conditions[-1].condition.value == name


def test_unknown_condition_names_are_kept() -> None:
    run = _with_condition("Hibernating")
    cond = run.status.conditions[-1].condition
    assert isinstance(cond, ConditionName)
    assert cond.value == "Hibernating"
    assert unstructure(run)["status"]["conditions"][0]["condition"] == "Hibernating"


def test_killed_run_still_running_is_cancelled() -> None:
    assert _with_condition("Running", killed_at=5).phase is RunPhase.CANCELLED
    assert _with_condition("Succeeded", killed_at=5).phase is RunPhase.SUCCEEDED


def test_round_trip() -> None:
    run = structure(RUN, Run)
    assert structure(unstructure(run), Run) == run
    assert unstructure(run)["workspaceId"] == "org"


@pytest.mark.parametrize(
    "bad",
    [
        {**RUN, "kind": "Flow"},
        {**RUN, "spec": "nope"},
        {**RUN, "runId": 5},
        {k: v for k, v in RUN.items() if k != "spec"},
        {**RUN, "metadata": {"timeCreated": "yesterday"}},
        [RUN],
        {**RUN, "spec": {**RUN["spec"], "flow": {**RUN["spec"]["flow"],
                                                 "tolerations": {"gpu": "a100"}}}},
        {**RUN, "spec": {**RUN["spec"], "flow": {**RUN["spec"]["flow"], "blocks": {}}}},
        {**RUN, "spec": {**RUN["spec"], "flow": {**RUN["spec"]["flow"], "settings": [1]}}},
        {**RUN, "status": {**RUN["status"], "conditions": {}}},
        {**RUN, "metadata": {**RUN["metadata"], "attributes": ["a"]}},
        {**RUN, "metadata": {**RUN["metadata"], "attributes": {"a": 1}}},
        {**RUN, "metadata": {**RUN["metadata"], "attributes": None}},
    ],
    ids=["kind", "spec-str", "id-int", "no-spec", "time-str", "array", "toleration-str",
         "blocks-object", "settings-array", "conditions-object", "attributes-array",
         "attribute-int", "attributes-null"],
)
def test_wrong_shapes_raise_decode_errors(bad: Any) -> None:
    with pytest.raises(ViDecodeError):
        structure(bad, Run)


def test_empty_maps_decode_to_fresh_dicts() -> None:
    """Empty maps skip their hook (most answers have them), yet decode as full ones do."""
    doc = {**RUN, "metadata": {**RUN["metadata"], "attributes": {}}}
    doc["spec"] = {**RUN["spec"], "flow": {**RUN["spec"]["flow"], "tolerations": {}}}
    run = structure(doc, Run)
    assert run.metadata.attributes == {} and run.spec.flow.tolerations == {}
    assert run.metadata.attributes is not doc["metadata"]["attributes"]
    assert run.spec.flow.tolerations is not doc["spec"]["flow"]["tolerations"]
    full = structure({**doc, "metadata": {**doc["metadata"], "attributes": {"k": "v"}}}, Run)
    assert full.metadata.attributes == {"k": "v"}


def test_decoded_models_are_the_models_init_builds() -> None:
    """Decoding sets the slots without ``__init__``; the result is indistinguishable."""
    import attrs

    run = structure(RUN, Run)
    rebuilt = attrs.evolve(run, spec=attrs.evolve(run.spec, flow=attrs.evolve(run.spec.flow)))
    assert run == rebuilt and repr(run) == repr(rebuilt)
    assert unstructure(run) == unstructure(rebuilt)
    assert all(type(b).__name__ == "FlowBlock" for b in run.spec.flow.blocks)  # the converter ran
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        run.run_id = "other"  # type: ignore[misc]


def test_optional_none_fields_are_omitted() -> None:
    wire = unstructure(FlowSpec(name="x"))
    assert "trainingProject" not in wire
    assert wire == {"name": "x", "schema": "v1", "tolerations": {}, "settings": {}, "blocks": []}


def test_our_json_decodes_with_the_official_structs_and_back() -> None:
    msgspec = pytest.importorskip("msgspec")
    responses = pytest.importorskip("vi.api.resources.training_projects.runs.responses")
    flow_responses = pytest.importorskip("vi.api.resources.training_projects.flows.responses")
    ours = structure(RUN, Run)
    theirs = msgspec.json.decode(
        msgspec.json.encode(unstructure(ours) | {"kind": "Run"}), type=responses.Run
    )
    assert theirs.run_id == ours.run_id
    assert theirs.spec.flow.tolerations == {"gpu": ["a"]}
    assert theirs.status.conditions[-1].condition.value == "Running"
    back = structure(msgspec.to_builtins(theirs), Run)
    assert back == ours

    flow = {k: v for k, v in RUN.items() if k not in ("runId", "status")}
    flow |= {"kind": "Flow", "flowId": "f1", "spec": RUN["spec"]["flow"]}
    ours_flow = structure(flow, Flow)
    theirs_flow = msgspec.json.decode(
        msgspec.json.encode(unstructure(ours_flow) | {"kind": "Flow"}), type=flow_responses.Flow
    )
    assert theirs_flow.flow_id == "f1"
    assert structure(msgspec.to_builtins(theirs_flow), Flow) == ours_flow
