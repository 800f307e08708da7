"""Python field names and their wire (camelCase) names: one mapping for the
converter and for the checks of dicts that stand for models."""

from __future__ import annotations

# Wire names that are not the plain camelCase of the Python name.
_SPECIAL_NAMES = {"organization_id": "workspaceId", "model_id": "runOutputId"}


def camel(name: str) -> str:
    """``time_created`` -> ``timeCreated`` (with the API's special cases)."""
    if name in _SPECIAL_NAMES:
        return _SPECIAL_NAMES[name]
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
