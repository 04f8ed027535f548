"""RPC types: the data passed to method handlers and the handler signature.

:class:`~lkcore.errors.RpcError` (also exported here) carries LiveKit's RPC error code,
message and optional data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable, Union

from .errors import RpcError

__all__ = ["RpcInvocationData", "RpcHandler", "RpcError"]


@dataclass(frozen=True)
class RpcInvocationData:
    """An incoming RPC call, passed to the registered handler.

    Attributes:
        request_id: the caller's RPC request id (UUID).
        caller_identity: identity of the calling participant.
        payload: the request payload.
        response_timeout: seconds the caller waits for the answer.
        method: the method name.
    """

    request_id: str
    caller_identity: str
    payload: str
    response_timeout: float
    method: str = ""


#: An RPC handler: returns the response payload, synchronously or as an awaitable.
RpcHandler = Callable[[RpcInvocationData], Union[str, Awaitable[str]]]
