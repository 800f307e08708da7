"""Resource namespaces of the client: ``client.flows`` and ``client.runs``."""

from .flows import FlowsResource
from .runs import RunsResource

__all__ = ["FlowsResource", "RunsResource"]
