"""lkcore: an asyncio SDK for LiveKit's data plane over liblkcore's C ABI.

Data packets, data tracks, RPC, text/byte data streams and end-to-end encryption, in the
style of LiveKit's ``livekit.rtc`` — without audio or video. The native library is found as
described in :func:`load_library` (``LKCORE_LIB`` environment variable, the package folder,
then the system).

Logs of the library are forwarded to the ``logging`` logger ``"lkcore.lib"``; the library's
log level follows the ``"lkcore"`` logger's effective level when a client is created (see
:meth:`Client.set_log_level`).
"""

from . import errors
from ._client import Client, VersionInfo, live_clients, version
from ._lib import ABI_VERSION_MAJOR, ABI_VERSION_MINOR, Library, abi_version, load_library
from .data_stream import (
    ByteStreamInfo,
    ByteStreamReader,
    ByteStreamWriter,
    TextStreamInfo,
    TextStreamReader,
    TextStreamWriter,
)
from .data_track import (
    DataTrackFrame,
    DataTrackInfo,
    DataTrackStream,
    DataTrackSubscription,
    LocalDataTrack,
    LocalDataTrackStats,
    RemoteDataTrack,
    SubscriptionEndReason,
)
from .e2ee import E2EEManager, E2EEStats, KeyProvider
from .errors import *  # noqa: F401,F403 - the exception types are part of the top-level API
from .errors import LkError, RpcError
from .participant import (
    ChatMessage,
    ConnectionQuality,
    LocalParticipant,
    Participant,
    ParticipantKind,
    ParticipantKindDetail,
    ParticipantPermission,
    ParticipantTrackPermission,
    RemoteParticipant,
    TrackKind,
    TrackPublication,
    TrackSource,
    Transcription,
    TranscriptionSegment,
)
from .room import (
    ConnectionState,
    ConnectionStats,
    DataPacket,
    DisconnectReason,
    E2EEOptions,
    EncryptionState,
    IceCandidate,
    IceCandidateType,
    IceServer,
    IceTransportPolicy,
    ReconnectKind,
    Room,
    RoomOptions,
    ServerEdition,
    ServerInfo,
    SimulateScenario,
    SipDTMF,
)
from .rpc import RpcInvocationData

__version__ = "0.1.0"

__all__ = [
    "ABI_VERSION_MAJOR",
    "ABI_VERSION_MINOR",
    "ByteStreamInfo",
    "ByteStreamReader",
    "ByteStreamWriter",
    "ChatMessage",
    "Client",
    "ConnectionQuality",
    "ConnectionState",
    "ConnectionStats",
    "DataPacket",
    "DataTrackFrame",
    "DataTrackInfo",
    "DataTrackStream",
    "DataTrackSubscription",
    "DisconnectReason",
    "E2EEManager",
    "E2EEOptions",
    "E2EEStats",
    "EncryptionState",
    "IceCandidate",
    "IceCandidateType",
    "IceServer",
    "IceTransportPolicy",
    "KeyProvider",
    "Library",
    "LkError",
    "LocalDataTrack",
    "LocalDataTrackStats",
    "LocalParticipant",
    "Participant",
    "ParticipantKind",
    "ParticipantKindDetail",
    "ParticipantPermission",
    "ParticipantTrackPermission",
    "ReconnectKind",
    "RemoteDataTrack",
    "RemoteParticipant",
    "Room",
    "RoomOptions",
    "RpcError",
    "RpcInvocationData",
    "ServerEdition",
    "ServerInfo",
    "SimulateScenario",
    "SipDTMF",
    "SubscriptionEndReason",
    "TextStreamInfo",
    "TextStreamReader",
    "TextStreamWriter",
    "TrackKind",
    "TrackPublication",
    "TrackSource",
    "Transcription",
    "TranscriptionSegment",
    "VersionInfo",
    "abi_version",
    "errors",
    "live_clients",
    "load_library",
    "version",
] + list(errors.__all__)
