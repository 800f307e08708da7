"""vi_async: the async-first Python SDK for the Datature Vi training API.

from vi_async import Client
async with Client() as client:
    run = await client.runs.create(flow="flow_id")
    run = await client.runs.wait_for(run.run_id)
"""

from ._client import Client
from ._http.rate_limit import RateLimitInfo
from ._observe.hooks import RequestInfo, ResponseInfo
from ._observe.otel import instrument, uninstrument
from ._version import __version__
from .bulk.plan import CleanupPlan, PlannedDelete
from .bulk.report import BulkError, BulkItemResult, BulkOutcome, BulkReport, OnActiveRun
from .errors import (
    InvalidIdError,
    ViAuthenticationError,
    ViConfigError,
    ViConflictError,
    ViConnectionError,
    ViDecodeError,
    ViDownloadError,
    ViError,
    ViNotFoundError,
    ViPermissionError,
    ViPlanError,
    ViPreconditionFailedError,
    ViProxyError,
    ViRateLimitError,
    ViRedirectError,
    ViResponseTooLargeError,
    ViRunFailedError,
    ViServerError,
    ViTimeoutError,
    ViTLSError,
    ViUnreachablePhaseError,
    ViValidationError,
)
from .models import (
    ConditionName,
    ConditionStatus,
    DeletedResource,
    Flow,
    FlowBlock,
    FlowSpec,
    LogLine,
    Model,
    ModelContents,
    ModelDownload,
    ModelDownloadUrl,
    ModelSpec,
    ModelStatus,
    Page,
    PaginationParams,
    ResourceMetadata,
    Run,
    RunCondition,
    RunEvent,
    RunPhase,
    RunSpec,
    RunStatus,
)
from .pagination import AsyncPager

# The official vi SDK's names (vi.api.pagination.PaginatedResponse, the DeletedFlow its
# docs name, vi.api.responses.ResourceCondition), so that code and docs written for it
# find them here: the same classes under a second name.
PaginatedResponse = AsyncPager
DeletedFlow = DeletedResource
ResourceCondition = RunCondition

__all__ = [
    "AsyncPager",
    "BulkError",
    "BulkItemResult",
    "BulkOutcome",
    "BulkReport",
    "CleanupPlan",
    "Client",
    "ConditionName",
    "ConditionStatus",
    "DeletedFlow",
    "DeletedResource",
    "Flow",
    "FlowBlock",
    "FlowSpec",
    "InvalidIdError",
    "LogLine",
    "Model",
    "ModelContents",
    "ModelDownload",
    "ModelDownloadUrl",
    "ModelSpec",
    "ModelStatus",
    "OnActiveRun",
    "Page",
    "PaginatedResponse",
    "PaginationParams",
    "PlannedDelete",
    "RateLimitInfo",
    "RequestInfo",
    "ResourceCondition",
    "ResourceMetadata",
    "ResponseInfo",
    "Run",
    "RunCondition",
    "RunEvent",
    "RunPhase",
    "RunSpec",
    "RunStatus",
    "ViAuthenticationError",
    "ViConfigError",
    "ViConflictError",
    "ViConnectionError",
    "ViDecodeError",
    "ViDownloadError",
    "ViError",
    "ViNotFoundError",
    "ViPermissionError",
    "ViPlanError",
    "ViPreconditionFailedError",
    "ViProxyError",
    "ViRateLimitError",
    "ViRedirectError",
    "ViResponseTooLargeError",
    "ViRunFailedError",
    "ViServerError",
    "ViTLSError",
    "ViTimeoutError",
    "ViUnreachablePhaseError",
    "ViValidationError",
    "__version__",
    "instrument",
    "uninstrument",
]
