"""Resource namespaces of the client: ``client.flows``, ``client.runs`` and ``client.models``."""

from .flows import FlowsResource
from .models import ModelsResource
from .runs import RunsResource

__all__ = ["FlowsResource", "ModelsResource", "RunsResource"]
