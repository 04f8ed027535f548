"""The Room: connect to a LiveKit room, follow its participants and data, and disconnect.

::

    async with Room() as room:
        @room.on("data_received")
        def on_data(packet: DataPacket) -> None:
            print(packet.participant, packet.data)

        await room.connect(url, token)
        await room.local_participant.publish_data(b"hi", topic="greetings")

Events (``room.on(name, handler)``; handlers may be sync or async; or iterate over
``room.events()``):

==================================  ==========================================================
``connected``                       ()
``disconnected``                    (reason: DisconnectReason)
``connection_state_changed``        (state: ConnectionState)
``reconnecting``                    (kind: ReconnectKind, attempt: int)
``reconnected``                     (kind: ReconnectKind, discarded_packets: int, replayed_packets: int)
``room_metadata_changed``           (old: str, new: str)
``room_updated``                    ()
``moved``                           ()
``participant_connected``           (participant: RemoteParticipant)
``participant_disconnected``        (participant: RemoteParticipant, reason: DisconnectReason)
``participant_metadata_changed``    (participant, old: str, new: str)
``participant_name_changed``        (participant, old: str, new: str)
``participant_attributes_changed``  (changed: dict[str, str], participant)
``participant_permissions_changed`` (participant)
``connection_quality_changed``      (participant, quality: ConnectionQuality)
``participant_speaking_changed``    (participant, is_speaking: bool, audio_level: float)
``active_speakers_changed``         (speakers: list[Participant])
``track_published``                 (publication: TrackPublication, participant)
``track_unpublished``               (publication: TrackPublication, participant)
``track_muted``                     (participant, publication: TrackPublication)
``track_unmuted``                   (participant, publication: TrackPublication)
``data_received``                   (packet: DataPacket)
``sip_dtmf_received``               (dtmf: SipDTMF)
``chat_message_received``           (message: ChatMessage, participant: RemoteParticipant | None, participant_identity: str)
``transcription_received``          (transcription: Transcription, participant: RemoteParticipant | None, participant_identity: str) — from an agent; participant is the sender (whose speech: transcription.participant_identity)
``data_track_published``            (track: RemoteDataTrack)
``data_track_unpublished``          (track: RemoteDataTrack)
``data_track_sid_changed``          (track: RemoteDataTrack, old_sid: str)
``data_track_subscription_permission_changed`` (track: RemoteDataTrack, allowed: bool)
``local_data_track_unpublished``    (track: LocalDataTrack, error: LkError | None)
``local_data_track_sid_changed``    (track: LocalDataTrack, old_sid: str)
``e2ee_state_changed``              (participant_identity: str, state: EncryptionState)
==================================  ==========================================================

``data_track_sid_changed``: a remote data track got a new sid because its publisher reconnected
fully and published it again. It is the same track: the object (``track.sid`` is already the
new one, ``old_sid`` the previous) and its subscriptions go on. Depending on the order of the
server's updates, such a republication can instead show as ``data_track_unpublished`` (the old
object; its subscriptions end) followed by ``data_track_published`` (a new object).

``data_track_subscription_permission_changed``: the publisher of a track this room subscribes to
revoked (``allowed`` False) or granted again (True) its permission to receive it
(``LocalParticipant.set_track_subscription_permissions`` on the publisher's side). The
subscriptions stay open: they receive nothing while revoked and resume by themselves.

``track_published`` / ``track_unpublished`` / ``track_muted`` / ``track_unmuted`` (ABI 1.25): a
participant's media track (audio, video), as the server describes it, was published,
unpublished, muted or unmuted; lkcore sends and receives no media, so there is no track to
subscribe to, only its description (a :class:`~lkcore.TrackPublication`: for an unpublished
track as last described, for a muted or unmuted one with its new ``muted``). The participant's
``track_publications`` is already updated when the handler runs. A participant that joins with
tracks has a ``track_published`` for each after its ``participant_connected``; one that leaves has
a ``track_unpublished`` for each before its ``participant_disconnected``. Tracks published before
this room joined are in ``track_publications`` when ``connect()`` returns, without events. Another
change of a track (its name, its dimensions) only updates ``track_publications``.

``participant_speaking_changed`` / ``active_speakers_changed`` (ABI 1.29): the server's speaker
updates, which it sends about this room's own participant and about the participants whose
tracks (data tracks included) the room subscribes to. ``participant_speaking_changed``: a
participant's ``is_speaking`` or ``audio_level`` changed (both already updated; the name follows
this binding's ``participant_*_changed`` events — livekit.rtc has none). ``active_speakers_changed``
(livekit.rtc's name and argument): the room's list of speakers changed, loudest first, the local
participant included when it speaks; :attr:`Room.active_speakers` is already the new list. It
follows the ``participant_speaking_changed`` events that changed it, and a speaker's
``participant_disconnected``, and comes empty when a full reconnect or a move forgets the
speakers (the new session's server reports them anew). The library orders the list; the
binding maps its identities to participant objects and never sorts it.

``local_data_track_sid_changed``: a full reconnect of this room published one of its data tracks
again, under a new sid (``track.sid`` is already the new one); the track stayed published.

``data_track_unpublished`` also reports the tracks of a participant that left: each of them
comes before ``participant_disconnected``, so a participant reported gone has no track left.
After a full reconnect of this room (``reconnected`` with ``ReconnectKind.FULL``) only who joined
or left meanwhile is reported; a participant that stayed keeps its object and its tracks.

``moved``: the server moved this session to another room (LiveKit Cloud's MoveParticipant); as in
``livekit.rtc`` it has no arguments, and ``room.name`` / ``room.sid`` are already the new room's.
Before it, the participants who are not in the new room leave (their tracks first); after it,
the new room's participants and their tracks arrive, as ordinary events. The ``Room`` object,
its connection and its local data tracks stay; the library reconnects to the new room.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import enum
import inspect
import logging
import os
import weakref
from dataclasses import dataclass
from typing import Any, Dict, List, Literal, Optional, Sequence, Union, cast

from . import errors
from ._client import Client, _start_blocking, bytes_arg, enum_value, error_from_proto, seconds_to_ms
from ._events import EventEmitter
from ._proto import lkcore_ffi_pb2 as pb
from ._session import RoomSession, credit_window
from .data_stream import (
    ByteStreamHandler,
    ByteStreamInfo,
    ByteStreamReader,
    TextStreamHandler,
    TextStreamInfo,
    TextStreamReader,
)
from .data_track import DataTrackInfo, RemoteDataTrack, SubscriptionEndReason
from .e2ee import E2EEManager
from .participant import ChatMessage, LocalParticipant, Participant, RemoteParticipant, TrackPublication, Transcription
from .rpc import RpcHandler, RpcInvocationData

__all__ = [
    "Room",
    "RoomOptions",
    "E2EEOptions",
    "ConnectionState",
    "DisconnectReason",
    "ReconnectKind",
    "SimulateScenario",
    "EncryptionState",
    "DataPacket",
    "SipDTMF",
    "ServerEdition",
    "ServerInfo",
    "ConnectionStats",
    "IceCandidate",
    "IceCandidateType",
    "RoomEventName",
]

logger = logging.getLogger("lkcore")

RoomEventName = Literal[
    "connected",
    "disconnected",
    "connection_state_changed",
    "reconnecting",
    "reconnected",
    "room_metadata_changed",
    "room_updated",
    "moved",
    "participant_connected",
    "participant_disconnected",
    "participant_metadata_changed",
    "participant_name_changed",
    "participant_attributes_changed",
    "participant_permissions_changed",
    "connection_quality_changed",
    "participant_speaking_changed",
    "active_speakers_changed",
    "track_published",
    "track_unpublished",
    "track_muted",
    "track_unmuted",
    "data_received",
    "sip_dtmf_received",
    "chat_message_received",
    "transcription_received",
    "data_track_published",
    "data_track_unpublished",
    "data_track_sid_changed",
    "data_track_subscription_permission_changed",
    "local_data_track_unpublished",
    "local_data_track_sid_changed",
    "e2ee_state_changed",
]


class ConnectionState(enum.IntEnum):
    """Connection state of a room."""

    DISCONNECTED = pb.CONNECTION_STATE_DISCONNECTED
    CONNECTING = pb.CONNECTION_STATE_CONNECTING
    CONNECTED = pb.CONNECTION_STATE_CONNECTED
    RECONNECTING = pb.CONNECTION_STATE_RECONNECTING


class ReconnectKind(enum.IntEnum):
    """RESUME keeps the session; FULL starts a new one (sids may change)."""

    UNSPECIFIED = pb.RECONNECT_KIND_UNSPECIFIED
    RESUME = pb.RECONNECT_KIND_RESUME
    FULL = pb.RECONNECT_KIND_FULL


class SimulateScenario(enum.IntEnum):
    """A connection fault :meth:`Room.simulate_scenario` simulates (values of
    ``lkcore.ffi.v1.SimulateScenario``, ABI 1.27; named after scenarios of livekit-client JS's
    ``simulateScenario``) or, :attr:`SPEAKER_UPDATE`, a report of the server's. The local ones
    close the signalling connection and the room does what it does when a real connection
    breaks; the server's ones ask the server to do what it does when it fails a participant.
    What follows is reported by the room's usual events."""

    SIGNAL_RECONNECT = pb.SIMULATE_SCENARIO_SIGNAL_RECONNECT
    """Local: the room resumes its session: ``reconnecting`` (:attr:`ReconnectKind.RESUME`), then
    ``reconnected`` (RESUME); the local participant keeps its sid."""
    FULL_RECONNECT = pb.SIMULATE_SCENARIO_FULL_RECONNECT
    """Local: a full reconnect, a new session: ``reconnecting`` (:attr:`ReconnectKind.FULL`), then
    ``reconnected`` (FULL); a new participant sid, and the local data tracks published again
    under new sids (``local_data_track_sid_changed``)."""
    NODE_FAILURE = pb.SIMULATE_SCENARIO_NODE_FAILURE
    """Server: drops the participant without a leave, as a failed media node would; the resume
    is refused and a full reconnect follows: ``reconnecting`` (RESUME), ``reconnecting`` (FULL),
    ``reconnected`` (FULL)."""
    MIGRATION = pb.SIMULATE_SCENARIO_MIGRATION
    """Server: drops the participant as a migration to another node does (livekit-server 1.13
    handles it as :attr:`NODE_FAILURE`)."""
    SERVER_LEAVE = pb.SIMULATE_SCENARIO_SERVER_LEAVE
    """Server: removes the participant with a leave; the room ends: ``disconnected``
    (:attr:`DisconnectReason.SERVER_SHUTDOWN`)."""
    DISCONNECT_SIGNAL_ON_RESUME = pb.SIMULATE_SCENARIO_DISCONNECT_SIGNAL_ON_RESUME
    """Both: the server drops the signalling connection of the next resume after answering it,
    then the local loss of :attr:`SIGNAL_RECONNECT` follows; the first resume fails and the room
    resumes again: ``reconnecting`` (RESUME) ... ``reconnected`` (RESUME)."""
    SPEAKER_UPDATE = pb.SIMULATE_SCENARIO_SPEAKER_UPDATE
    """Server, ABI 1.29, no fault (no connection breaks, nothing reconnects): the server reports
    the local participant speaking at level 0.9 for 3 s, then stopped, to it and to the
    participants subscribed to its (data) tracks (livekit-client JS's ``"speaker"``):
    ``participant_speaking_changed`` and ``active_speakers_changed`` when it starts and when it
    ends, as for real speech (the server's periodic speaker updates know nothing of it)."""


class DisconnectReason(enum.IntEnum):
    """Why a participant or the room disconnected (values of livekit.DisconnectReason)."""

    UNKNOWN = pb.DISCONNECT_REASON_UNKNOWN
    CLIENT_INITIATED = pb.DISCONNECT_REASON_CLIENT_INITIATED
    DUPLICATE_IDENTITY = pb.DISCONNECT_REASON_DUPLICATE_IDENTITY
    SERVER_SHUTDOWN = pb.DISCONNECT_REASON_SERVER_SHUTDOWN
    PARTICIPANT_REMOVED = pb.DISCONNECT_REASON_PARTICIPANT_REMOVED
    ROOM_DELETED = pb.DISCONNECT_REASON_ROOM_DELETED
    STATE_MISMATCH = pb.DISCONNECT_REASON_STATE_MISMATCH
    JOIN_FAILURE = pb.DISCONNECT_REASON_JOIN_FAILURE
    MIGRATION = pb.DISCONNECT_REASON_MIGRATION
    SIGNAL_CLOSE = pb.DISCONNECT_REASON_SIGNAL_CLOSE
    ROOM_CLOSED = pb.DISCONNECT_REASON_ROOM_CLOSED
    USER_UNAVAILABLE = pb.DISCONNECT_REASON_USER_UNAVAILABLE
    USER_REJECTED = pb.DISCONNECT_REASON_USER_REJECTED
    SIP_TRUNK_FAILURE = pb.DISCONNECT_REASON_SIP_TRUNK_FAILURE
    CONNECTION_TIMEOUT = pb.DISCONNECT_REASON_CONNECTION_TIMEOUT
    MEDIA_FAILURE = pb.DISCONNECT_REASON_MEDIA_FAILURE
    AGENT_ERROR = pb.DISCONNECT_REASON_AGENT_ERROR  # ABI 1.1


class EncryptionState(enum.IntEnum):
    """End-to-end encryption state of a participant."""

    UNSPECIFIED = pb.ENCRYPTION_STATE_UNSPECIFIED
    OK = pb.ENCRYPTION_STATE_OK
    ENCRYPTION_FAILED = pb.ENCRYPTION_STATE_ENCRYPTION_FAILED
    DECRYPTION_FAILED = pb.ENCRYPTION_STATE_DECRYPTION_FAILED
    MISSING_KEY = pb.ENCRYPTION_STATE_MISSING_KEY
    KEY_RATCHETED = pb.ENCRYPTION_STATE_KEY_RATCHETED
    INTERNAL_ERROR = pb.ENCRYPTION_STATE_INTERNAL_ERROR


class IceTransportPolicy(enum.IntEnum):
    """Which ICE candidates a room's connection may use (:attr:`RoomOptions.ice_transport_policy`)."""

    ALL = pb.ICE_TRANSPORT_POLICY_ALL
    """Any candidate (relay only while the server asks for it with ``force_relay``)."""
    RELAY = pb.ICE_TRANSPORT_POLICY_RELAY
    """TURN relay candidates only, always: a TURN server must be configured (``ice_servers``)
    or sent by the server; without a relay candidate :meth:`Room.connect` fails with
    :class:`~lkcore.errors.ConnectionFailedError`."""


@dataclass
class IceServer:
    """A STUN or TURN server for :attr:`RoomOptions.ice_servers`.

    Attributes:
        urls: ``"stun:host:port"``, ``"turn:host:port?transport=udp|tcp"`` or
            ``"turns:host:port?transport=tcp"`` (1 to 8 URLs).
        username: TURN username.
        credential: TURN password (never logged, not shown by ``repr``).
    """

    urls: Sequence[str]
    username: str = ""
    credential: str = ""

    def __repr__(self) -> str:  # never show the credential
        return f"IceServer(urls={list(self.urls)!r}, username={self.username!r}, credential=<{len(self.credential)} chars>)"

    def _to_proto(self) -> pb.IceServer:
        if isinstance(self.urls, str):
            raise TypeError("IceServer.urls is a sequence of URLs, not one string")
        return pb.IceServer(urls=list(self.urls), username=self.username, credential=self.credential)


@dataclass
class E2EEOptions:
    """End-to-end encryption with a shared key (key derivation as in the official SDKs).

    Attributes:
        shared_key: the key material, bytes-like (a str is encoded as UTF-8; never logged).
        ratchet_salt: bytes-like salt for key derivation (empty = ``b"LKFrameEncryptionKey"``).
        ratchet_window_size: ratchet attempts on decryption failure (0 = default).
        failure_tolerance: passed to the library, which ignores it: it never gives up on a
            sender, reports each failure (``e2ee_state_changed``) and drops what it cannot
            decrypt (as with -1, unlimited).
        key_ring_size: key indexes kept (0 = default 16).
    """

    shared_key: bytes
    ratchet_salt: bytes = b""
    ratchet_window_size: int = 0
    failure_tolerance: int = -1
    key_ring_size: int = 0

    def __repr__(self) -> str:  # never show the key
        return f"E2EEOptions(shared_key=<{len(self.shared_key)} bytes>, key_ring_size={self.key_ring_size})"

    def _to_proto(self) -> pb.E2eeOptions:
        if isinstance(self.shared_key, str):
            key = self.shared_key.encode("utf-8")
        else:
            key = bytes_arg(self.shared_key, "E2EEOptions.shared_key")
        return pb.E2eeOptions(
            shared_key=key,
            ratchet_salt=bytes_arg(self.ratchet_salt, "E2EEOptions.ratchet_salt"),
            ratchet_window_size=self.ratchet_window_size,
            failure_tolerance=self.failure_tolerance,
            key_ring_size=self.key_ring_size,
        )


@dataclass
class RoomOptions:
    """Options of a room (0 / None = the library default).

    The timeouts are seconds: 0 or None is the library's default, a negative or NaN value
    makes :meth:`Room.connect` raise :class:`~lkcore.errors.InvalidArgumentError`, and values
    beyond about 49.7 days are capped there.

    Attributes:
        auto_subscribe: subscribe to remote data tracks automatically (default False). An
            auto-subscription is the same kind of object as one :meth:`RemoteDataTrack.subscribe`
            opens without sizes: until the user takes it (``track.subscribe()``) and reads, its
            frames wait in the library's buffer, bounded by ``data_track_buffer_size`` and
            ``data_track_buffer_bytes`` (the oldest dropped and counted in ``dropped_before``),
            never in a buffer of the binding.
        e2ee: end-to-end encryption; None = off.
        connect_timeout: bound of one join attempt, signalling and connection together, in
            seconds (default 15).
        join_attempts: join attempts before connect fails (default 1; at most 100).
        max_reconnect_attempts: reconnect attempts after a connection loss (default 10;
            negative disables reconnection).
        rpc_response_timeout: default RPC response timeout in seconds (default 15).
        data_track_buffer_size: default subscription buffer in frames, of auto-subscriptions
            and of ``subscribe()`` without ``buffer_size`` (at most 65 536, else connect raises
            :class:`~lkcore.errors.InvalidArgumentError`; 0 = the library's default, 256 frames
            and at most 1 MiB of payloads, enough for a burst as large as a track accepts by
            default; given without ``data_track_buffer_bytes``, that many frames are kept
            whatever their size, within 64 MiB).
        data_track_buffer_bytes: default subscription buffer in payload bytes, of
            auto-subscriptions and of ``subscribe()`` without ``buffer_bytes`` (at most 64 MiB,
            else connect raises :class:`~lkcore.errors.InvalidArgumentError`; 0 = 1 MiB when no
            frame count is given either, else 64 MiB). The library drops the oldest frames
            beyond either bound and counts them in the next frame's ``dropped_before``.
        max_incoming_stream_bytes: largest incoming data stream accepted, in bytes (default
            5 000 000 000); a larger stream fails with ``PAYLOAD_TOO_LARGE``.
        ice_servers: STUN/TURN servers used instead of the ones the server sends (empty = the
            server's; at most 16). A URL that is not a valid ``stun:``/``stuns:``/``turn:``/
            ``turns:`` URL, or a TURN URL without username and credential, makes connect raise
            :class:`~lkcore.errors.InvalidArgumentError`.
        ice_transport_policy: :attr:`IceTransportPolicy.RELAY` to connect through a TURN relay
            only (default :attr:`IceTransportPolicy.ALL`).
        sctp_receive_buffer_size: receive window of the room's connection in bytes (0 = the
            library's 768 KiB; otherwise 262 144 to 67 108 864, else connect raises
            :class:`~lkcore.errors.InvalidArgumentError`). It caps what the server can send
            toward this client at window / round-trip time (7.5 MB/s at 100 ms by default);
            a larger window helps on long paths but risks losing data-track frames when the
            process stalls under a saturating flow.
        disable_udp_batching: send and receive every UDP datagram with its own system call
            (default False: batched where the kernel supports it, for less CPU per byte).
        tls_root_certificates: the roots a ``wss://`` server's certificate must chain to, as
            PEM ``CERTIFICATE`` blocks (bytes, e.g. ``pathlib.Path("ca.pem").read_bytes()``),
            for a server whose certificate a private CA signed. Set, they replace the
            system's roots (and ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``) for this room's
            signalling; None or empty = the system's roots. At most 1 MiB and at least one
            certificate, else connect raises :class:`~lkcore.errors.InvalidArgumentError`
            (the library checks; ABI 1.30). TURN servers reached over TLS (``turns:`` URLs)
            are verified against the system's roots whatever this holds.
    """

    auto_subscribe: bool = False
    e2ee: Optional[E2EEOptions] = None
    connect_timeout: Optional[float] = None
    join_attempts: int = 0
    max_reconnect_attempts: Optional[int] = None
    rpc_response_timeout: Optional[float] = None
    data_track_buffer_size: int = 0
    max_incoming_stream_bytes: int = 0
    ice_servers: Sequence[IceServer] = ()
    ice_transport_policy: IceTransportPolicy = IceTransportPolicy.ALL
    sctp_receive_buffer_size: int = 0
    disable_udp_batching: bool = False
    data_track_buffer_bytes: int = 0
    tls_root_certificates: Optional[bytes] = None

    def _to_proto(self) -> pb.RoomOptions:
        o = pb.RoomOptions(
            auto_subscribe=self.auto_subscribe,
            auto_subscriptions_in_snapshot=True,  # ABI 1.5: in the connect snapshot, not as events
            # ABI 1.14: auto-subscriptions are delivered like subscribe()'s, one frame per credit,
            # the others waiting in the library's buffer (BINDINGS.md §7: no buffer here).
            auto_subscription_delivery=pb.DELIVERY_MODE_CREDITS,
            auto_subscription_credits=credit_window(self.data_track_buffer_size),
            join_attempts=self.join_attempts,
            data_track_buffer_size=self.data_track_buffer_size,
            data_track_buffer_bytes=self.data_track_buffer_bytes,  # ABI 1.14
            max_incoming_stream_bytes=self.max_incoming_stream_bytes,
            ice_servers=[s._to_proto() for s in self.ice_servers],
            ice_transport_policy=pb.IceTransportPolicy.Name(self.ice_transport_policy),
            sctp_receive_buffer_bytes=self.sctp_receive_buffer_size,  # ABI 1.8
            disable_udp_batching=self.disable_udp_batching,  # ABI 1.8
        )
        if self.e2ee is not None:
            o.e2ee.CopyFrom(self.e2ee._to_proto())
        if self.connect_timeout is not None:
            o.connect_timeout_ms = seconds_to_ms(self.connect_timeout, "RoomOptions.connect_timeout")
        if self.max_reconnect_attempts is not None:
            o.max_reconnect_attempts = self.max_reconnect_attempts
        if self.rpc_response_timeout is not None:
            o.rpc_response_timeout_ms = seconds_to_ms(self.rpc_response_timeout, "RoomOptions.rpc_response_timeout")
        if self.tls_root_certificates is not None:  # ABI 1.30; passed on as given, the library checks it
            o.tls_root_certificates_pem = bytes_arg(self.tls_root_certificates, "RoomOptions.tls_root_certificates")
        return o


class ServerEdition(enum.IntEnum):
    """Which server software a room is connected to (values of ``lkcore.ffi.v1.ServerEdition``).
    An edition newer than this binding shows as ``STANDARD``, the schema's zero value."""

    STANDARD = pb.SERVER_EDITION_STANDARD
    """The open-source livekit-server (self-hosted, or the lkcore-devsfu test server)."""
    CLOUD = pb.SERVER_EDITION_CLOUD
    """LiveKit Cloud."""


@dataclass(frozen=True)
class ServerInfo:
    """The server a room's session is connected to (:attr:`Room.server`), as its join response
    describes it (``lkcore.ffi.v1.ServerInfo``).

    It changes only with a full reconnect that lands on another server, e.g. another LiveKit
    Cloud region after a failover; ``room_updated`` is emitted then.

    Attributes:
        edition: :attr:`ServerEdition.STANDARD` (livekit-server) or :attr:`ServerEdition.CLOUD`.
        version: the server's version, e.g. ``"1.13.5"``.
        protocol: the signalling protocol version it speaks.
        region: LiveKit Cloud's region of the session (``""`` for a self-hosted server without
            one; livekit-server sends its ``region`` setting).
        node_id: the node within the deployment (``"ND_..."``).
    """

    edition: ServerEdition = ServerEdition.STANDARD
    version: str = ""
    protocol: int = 0
    region: str = ""
    node_id: str = ""

    @classmethod
    def _from_proto(cls, s: pb.ServerInfo) -> "ServerInfo":
        return cls(enum_value(ServerEdition, s.edition), s.version, s.protocol, s.region, s.node_id)


class IceCandidateType(enum.IntEnum):
    """The kind of an ICE candidate (:attr:`IceCandidate.type`; values of
    ``lkcore.ffi.v1.IceCandidateType``). A kind newer than this binding shows as
    ``UNSPECIFIED``, the schema's zero value."""

    UNSPECIFIED = pb.ICE_CANDIDATE_TYPE_UNSPECIFIED
    """Not said (or a kind this binding does not know)."""
    HOST = pb.ICE_CANDIDATE_TYPE_HOST
    """An address of the machine itself."""
    SRFLX = pb.ICE_CANDIDATE_TYPE_SRFLX
    """Server reflexive: the address a STUN server saw (the machine is behind a NAT)."""
    PRFLX = pb.ICE_CANDIDATE_TYPE_PRFLX
    """Peer reflexive: an address learnt from a connectivity check."""
    RELAY = pb.ICE_CANDIDATE_TYPE_RELAY
    """A TURN server's relayed address."""


@dataclass(frozen=True)
class IceCandidate:
    """One end of the ICE candidate pair a room's connection uses (:class:`ConnectionStats`).

    Attributes:
        type: host, server reflexive, peer reflexive or relay (:class:`IceCandidateType`).
        protocol: the candidate's transport, ``"udp"`` or ``"tcp"``.
        ip: its address; for a local relay candidate the address the TURN server relays from.
        port: its port.
        relay_protocol: for a local relay candidate, the transport between this client and the
            TURN server (``"udp"``, ``"tcp"`` or ``"tls"``); ``""`` otherwise.
    """

    type: IceCandidateType = IceCandidateType.UNSPECIFIED
    protocol: str = ""
    ip: str = ""
    port: int = 0
    relay_protocol: str = ""

    @classmethod
    def _from_proto(cls, c: pb.IceCandidate) -> "IceCandidate":
        return cls(enum_value(IceCandidateType, c.type), c.protocol, c.ip, c.port, c.relay_protocol)


@dataclass(frozen=True)
class ConnectionStats:
    """How a room is connected right now (:meth:`Room.connection_stats`; the library's
    ``GetConnectionStatsResponse``, ABI 1.26): the selected ICE candidate pair, the round
    trips and what the data channels carried.

    It has no ``connected`` flag: :meth:`Room.connection_stats` returns None when there is no
    connection to describe (as :attr:`Room.server` is None before connect), so an instance always
    describes a selected candidate pair.

    Attributes:
        local_candidate: this client's end of the selected pair.
        remote_candidate: the server's end.
        round_trip_time: ICE's latest round trip on the pair (its checks, and keepalives while
            the pair is idle); zero before the first.
        sctp_round_trip_time: the data channels' smoothed round trip, measured on acknowledged
            data (the peers' processing under load included); zero before any data was
            acknowledged.
        bytes_sent: message bytes the data channels sent (every channel; no SCTP, DTLS or UDP
            framing) on this connection: a full reconnect starts a new one from zero, a resume
            keeps it.
        bytes_received: message bytes the data channels received, counted likewise.
    """

    local_candidate: IceCandidate = IceCandidate()
    remote_candidate: IceCandidate = IceCandidate()
    round_trip_time: datetime.timedelta = datetime.timedelta(0)
    sctp_round_trip_time: datetime.timedelta = datetime.timedelta(0)
    bytes_sent: int = 0
    bytes_received: int = 0

    @classmethod
    def _from_proto(cls, r: pb.GetConnectionStatsResponse) -> "ConnectionStats":
        return cls(
            IceCandidate._from_proto(r.local_candidate),
            IceCandidate._from_proto(r.remote_candidate),
            datetime.timedelta(microseconds=r.round_trip_time_us),
            datetime.timedelta(microseconds=r.sctp_round_trip_time_us),
            r.bytes_sent,
            r.bytes_received,
        )


@dataclass(frozen=True)
class DataPacket:
    """A received data packet.

    Attributes:
        data: the payload.
        participant: the sender, or None when sent by a server-side SDK or by a participant
            the room has not been told about: the server announces one that publishes nothing
            with its next batch of updates (seconds after it joined), and one that leaves
            within that time never.
        participant_identity: the sender's identity ("" for a server-side SDK).
        topic: the packet's topic.
        reliable: whether it came over the reliable channel.
        encrypted: whether it was end-to-end encrypted.
    """

    data: bytes
    participant: Optional[RemoteParticipant]
    participant_identity: str = ""
    topic: str = ""
    reliable: bool = True
    encrypted: bool = False


@dataclass(frozen=True)
class SipDTMF:
    """A received DTMF tone, typically a key a SIP participant's caller pressed.

    Attributes:
        code: the telephone-event code (0-9 the digits, 10 ``*``, 11 ``#``, 12-15 ``A``-``D``).
        digit: the key as text ("" when the sender set only the code).
        participant: the sender, or None (as for ``DataPacket.participant``).
        participant_identity: the sender's identity ("" for a server-side SDK).
    """

    code: int
    digit: str
    participant: Optional[RemoteParticipant]
    participant_identity: str = ""


def _release_room(client: Client, handle: int, own_client: bool) -> None:
    """Finalizer of a Room dropped without disconnect: releases everything, never raises.

    It runs wherever the garbage collector does (often on the loop's thread): the private
    client is closed on a helper thread, never waited for here.
    """
    try:
        client.drop(handle)
        if own_client:
            client._close_in_background(timeout=2.0)
    except Exception:  # pragma: no cover - interpreter shutdown
        pass


def _rpc_error_to_proto(e: errors.RpcError, method: str) -> pb.RpcError:
    """The RespondRpc error for an RpcError raised by a handler. Never raises: a code that is
    not a uint32 becomes APPLICATION_ERROR (1500), with a warning; a message or data that is
    not a str is converted with str()."""
    code = e.rpc_code
    if not 0 <= code <= 0xFFFFFFFF:
        logger.warning(
            "lkcore: RPC handler for %r raised RpcError with code %d (not 0..4294967295); "
            "answering APPLICATION_ERROR (1500)", method, code
        )
        code = errors.RpcError.APPLICATION_ERROR
    message = e.message if isinstance(e.message, str) else str(e.message)
    data = "" if e.data is None else e.data if isinstance(e.data, str) else str(e.data)
    return pb.RpcError(code=code, message=message, data=data)


def _log_close_failure(fut: "asyncio.Future[Any]") -> None:
    """Done callback of a private client's close: logs its failure (never raises)."""
    if fut.cancelled():
        return
    e = fut.exception()
    if e is not None:
        logger.warning("lkcore: closing the room's client failed: %s", e)


class Room(EventEmitter[RoomEventName]):
    """A LiveKit room (data plane only).

    A Room connects at most once: after it connected, or after :meth:`disconnect`, create a
    new Room to join again (a failed connect leaves it connectable again). Unless ``client`` is given,
    the room creates a private :class:`~lkcore.Client` when it connects and closes it in
    :meth:`disconnect` (also ``aclose`` and ``async with``), or when the Room is garbage
    collected (then on a helper thread). After a disconnect by the server (the
    ``disconnected`` event) the room handle and the private client stay until
    :meth:`disconnect` is called or the Room is collected. Events are dispatched on the asyncio
    loop's thread (see :class:`~lkcore.Client` for how they get there).

    Args:
        options: default options for :meth:`connect`.
        client: a shared client to use instead of a private one (not closed by the room).
        lib_path: explicit path of liblkcore for the private client.
    """

    def __init__(
        self,
        options: Optional[RoomOptions] = None,
        *,
        client: Optional[Client] = None,
        lib_path: Optional[Union[str, "os.PathLike[str]"]] = None,
    ) -> None:
        super().__init__()
        self._session = RoomSession(options or RoomOptions())
        self._client_arg = client
        self._lib_path = lib_path
        self._used = False
        self._disconnect_called = False  # disconnect() ends the Room for good (no new connect)
        self._state = ConnectionState.DISCONNECTED
        self._info = pb.RoomInfo()
        self._local: Optional[LocalParticipant] = None
        self._remote: Dict[str, RemoteParticipant] = {}
        self._active_speakers: List[Participant] = []  # the library's list, mapped (ABI 1.29)
        self._disconnected = asyncio.Event()
        self._e2ee_manager = E2EEManager(self._session)
        self._release_lock: Optional[asyncio.Lock] = None
        self._finalizer: Optional[weakref.finalize] = None  # type: ignore[type-arg]
        self._closing: "Optional[asyncio.Future[Any]]" = None  # the private client's close

    # -- properties ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """Room name (known after connect)."""
        return self._info.name

    @property
    def sid(self) -> str:
        """Room sid (known after connect)."""
        return self._info.sid

    @property
    def metadata(self) -> str:
        """Room metadata."""
        return self._info.metadata

    @property
    def num_participants(self) -> int:
        """Number of participants as the server counts them, updated by its room updates (which
        come about a second after a join or a leave; ``room_updated`` is emitted then)."""
        return self._info.num_participants

    @property
    def num_publishers(self) -> int:
        """Number of participants publishing something (data tracks included), as the server
        counts them (updated like ``num_participants``)."""
        return self._info.num_publishers

    @property
    def creation_time(self) -> Optional[datetime.datetime]:
        """When the room was created (UTC), or None when the server did not say."""
        if not self._info.creation_time_ms:
            return None
        return datetime.datetime.fromtimestamp(self._info.creation_time_ms / 1000, datetime.timezone.utc)

    @property
    def is_recording(self) -> bool:
        """Whether an egress (recording) of the room is running; a change emits ``room_updated``."""
        return self._info.active_recording

    @property
    def departure_timeout(self) -> float:
        """Seconds the server keeps the room open after the last participant left (0: not said)."""
        return float(self._info.departure_timeout_seconds)

    @property
    def empty_timeout(self) -> float:
        """Seconds the server keeps the room open when no one joins it (0: not said)."""
        return float(self._info.empty_timeout_seconds)

    @property
    def server(self) -> Optional[ServerInfo]:
        """The server the session is connected to (edition, version, protocol, region, node id),
        or None before connect. A full reconnect that lands on another server (another LiveKit
        Cloud region after a failover) changes it and emits ``room_updated``."""
        if not self._info.HasField("server"):
            return None
        return ServerInfo._from_proto(self._info.server)

    def connection_stats(self) -> Optional[ConnectionStats]:
        """How the room is connected now: the selected ICE candidate pair, ICE's and the data
        channels' round trips, and the data channels' byte counts, as the library reads them at
        this call (it never waits for the network; nothing is cached or polled here: call it
        again for new figures). The counterpart of livekit.rtc's ``get_rtc_stats()``, which
        returns WebRTC's statistics of its peer connections instead.

        Returns None when there is no connection to describe: before :meth:`connect` completed,
        while no candidate pair is selected during a reconnection, and after the room was
        disconnected (by :meth:`disconnect` or by the server).

        Raises:
            ClientClosedError: the room's shared :class:`~lkcore.Client` was closed meanwhile
                by another thread.
        """
        session = self._session
        client = session.client
        if client is None or client.closed or not session.live:
            return None
        r = client.request(
            pb.Request(get_connection_stats=pb.GetConnectionStatsRequest(room_handle=session.handle))
        ).get_connection_stats
        return ConnectionStats._from_proto(r) if r.connected else None

    @property
    def connection_state(self) -> ConnectionState:
        """Current connection state."""
        return self._state

    def isconnected(self) -> bool:
        """True while connected (also while reconnecting)."""
        return self._state in (ConnectionState.CONNECTED, ConnectionState.RECONNECTING)

    @property
    def local_participant(self) -> LocalParticipant:
        """The local participant (after connect)."""
        if self._local is None:
            raise errors.DisconnectedError("the room is not connected")
        return self._local

    @property
    def remote_participants(self) -> Dict[str, RemoteParticipant]:
        """Remote participants by identity (a copy)."""
        return dict(self._remote)

    @property
    def active_speakers(self) -> List[Participant]:
        """The participants speaking, loudest first (equal levels by identity), the local
        participant included when it speaks (a copy; empty before connect). The order and the
        membership are the library's (ABI 1.29: set from the connect snapshot, then from each
        ``active_speakers_changed``, which reports every change); the server tells a room about
        its own participant and the participants whose tracks, data tracks included, it
        subscribes to."""
        return list(self._active_speakers)

    @property
    def e2ee_manager(self) -> E2EEManager:
        """End-to-end encryption: enabled, key provider, stats, per-participant state."""
        return self._e2ee_manager

    @property
    def client(self) -> Optional[Client]:
        """The FFI client in use (None before connect)."""
        return self._session.client

    # -- lifecycle -----------------------------------------------------------------------------

    async def connect(self, url: str, token: str, options: Optional[RoomOptions] = None) -> None:
        """Joins the room at ``url`` (ws:// or wss://) with an access token.

        The library retries as :class:`RoomOptions` says (``join_attempts``), and on LiveKit
        Cloud a join that fails in a retryable way goes on in the project's other regions;
        :attr:`server` then names the region that joined.

        A failed connect releases what the attempt made (its room handle, a private client)
        and leaves the Room connectable again (BINDINGS.md §7), unless :meth:`disconnect` was
        called meanwhile.

        Raises:
            UnauthorizedError: the token was rejected.
            ConnectionFailedError: the server could not be reached or refused the join.
            FailedPreconditionError: this Room is connecting or connected, or was connected or
                disconnected before.
        """
        if self._used:
            raise errors.FailedPreconditionError("a Room connects at most once; create a new Room")
        self._used = True
        session = self._session
        if options is not None:
            session.options = options
        own = self._client_arg is None
        try:
            client = self._client_arg if self._client_arg is not None else Client(self._lib_path)
        except BaseException:
            self._used = False  # nothing was made: the Room is as it was
            raise
        session.client = client
        self._release_lock = asyncio.Lock()
        try:
            client._bind_loop()
            resp = client.request(pb.Request(create_room=pb.CreateRoomRequest(options=session.options._to_proto())))
            h = resp.create_room.room.handle
            client.adopt(h)
            session.handle = h
            self._finalizer = weakref.finalize(self, _release_room, client, h, own)
            client.route(h, self._on_ffi_event)
            # Register what was declared before connect, so nothing arriving right after
            # the join is missed.
            for m in session.rpc_handlers:
                session.ffi_register_rpc(m)
            for t in session.text_handlers:
                session.ffi_register_stream(pb.STREAM_KIND_TEXT, t)
            for t in session.byte_handlers:
                session.ffi_register_stream(pb.STREAM_KIND_BYTES, t)
            self._set_state(ConnectionState.CONNECTING)
            await client.request_async(
                pb.Request(connect=pb.ConnectRequest(room_handle=h, url=url, token=token)),
                on_result=self._on_connected,
            )
        except BaseException:
            try:
                await self._release(final=False)  # CONNECTING -> DISCONNECTED is reported
            finally:
                if self._disconnect_called:
                    self._close_iterators()  # ended for good
                else:
                    self._reset_after_failed_connect()  # events() iterators go on
            raise
        self.emit("connected")

    def _reset_after_failed_connect(self) -> None:
        """Makes the Room connectable again after a failed connect (whose attempt is released:
        the next connect creates a new room handle, and a new private client)."""
        session = self._session
        session.client = None
        session.handle = 0
        session.released = False
        session.final_e2ee_stats = None
        self._info = pb.RoomInfo()
        self._local = None
        self._remote = {}
        self._active_speakers = []
        self._disconnected = asyncio.Event()
        self._release_lock = None
        self._finalizer = None
        self._closing = None
        self._used = False

    def _on_connected(self, comp: pb.Completion) -> None:
        """Applies the connect snapshot, in event order (before any later room event)."""
        r = comp.connect
        self._info.CopyFrom(r.room)
        self._local = LocalParticipant(self._session, r.local_participant)
        for p in r.remote_participants:
            self._remote[p.identity] = RemoteParticipant(p)
        self._active_speakers = self._speakers(r.active_speakers)
        by_sid = {}
        for t in r.remote_data_tracks:
            track = self._add_remote_track(t)
            if track is not None:
                by_sid[track.sid] = track
        # RoomOptions.auto_subscribe: the library's subscriptions of the snapshot's tracks.
        for sub in r.auto_subscriptions:
            self._adopt_auto_subscription(by_sid.get(sub.track.info.sid), sub.handle)
        self._set_state(ConnectionState.CONNECTED)

    async def disconnect(self) -> None:
        """Leaves the room and releases everything the room holds. Idempotent.

        Called while :meth:`connect` runs, it ends the Room for good: the connect fails and
        the Room cannot connect again.
        """
        session = self._session
        if not self._used:
            return
        self._disconnect_called = True
        client = session.client
        if (client is not None and session.handle and self.isconnected() and not client.closed
                and not session.released):
            try:
                await client.request_async(pb.Request(disconnect=pb.DisconnectRequest(room_handle=session.handle)))
            except (errors.DisconnectedError, errors.ClientClosedError, errors.FailedPreconditionError,
                    errors.InvalidHandleError):
                pass
        await self._release()

    async def aclose(self) -> None:
        """Same as :meth:`disconnect`."""
        await self.disconnect()

    async def __aenter__(self) -> "Room":
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self.disconnect()

    async def wait_disconnected(self) -> None:
        """Waits until the room is disconnected (by :meth:`disconnect` or by the server)."""
        await self._disconnected.wait()

    # -- simulated faults ----------------------------------------------------------------------

    async def simulate_scenario(self, scenario: SimulateScenario) -> None:
        """Simulates a connection fault, to test how the application handles one, against any
        LiveKit server (the library's ``SimulateScenarioRequest``, ABI 1.27)::

            await room.simulate_scenario(SimulateScenario.SIGNAL_RECONNECT)

        Returns once the fault is under way, never waiting for the reconnection: what follows
        is reported by the room's usual events (``reconnecting``, ``reconnected``,
        ``connection_state_changed``, ``disconnected``; see each :class:`SimulateScenario`).
        :attr:`SimulateScenario.SPEAKER_UPDATE` (ABI 1.29) is no fault: the server reports the
        local participant speaking at 0.9 for 3 s (``participant_speaking_changed``,
        ``active_speakers_changed``), then stopped; nothing reconnects.
        The library does the work; nothing is closed or dropped here. With reconnection off
        (:attr:`RoomOptions.max_reconnect_attempts` negative) a simulated loss ends the room
        as a real one would.

        Raises:
            InvalidArgumentError: ``scenario`` is not a :class:`SimulateScenario` value (e.g. an
                int the schema does not know, or 0).
            DisconnectedError: the room is not connected (before :meth:`connect` completed, or
                after it ended); ``retryable`` while it is reconnecting or a simulated loss is
                already under way.
            LkError: the server's part of the scenario could not be sent (the signalling
                connection's error).
        """
        # The number as given (the schema's value): the library checks it (INVALID_ARGUMENT).
        # The generated stubs type the field as the schema's enum class, which an IntEnum is not.
        await self._session.request_async(
            pb.Request(
                simulate_scenario=pb.SimulateScenarioRequest(
                    room_handle=self._session.require_handle(), scenario=cast("pb.SimulateScenario", scenario)
                )
            )
        )

    async def _release(self, final: bool = True) -> None:
        """Releases the room handle and a private client; ``final`` also ends the events()
        iterators (not after a failed connect, which leaves the Room connectable)."""
        lock = self._release_lock
        if lock is None:
            return
        async with lock:
            session = self._session
            if session.released:
                await self._wait_closed()  # a cancelled release may have left it running
                return
            try:  # keep the final counters readable after the disconnect
                session.final_e2ee_stats = session.e2ee_stats()
            except errors.LkError:
                pass
            session.released = True
            was = self._state
            self._state = ConnectionState.DISCONNECTED
            completed = False
            try:
                self._end_children(SubscriptionEndReason.DISCONNECTED)
                await self._cancel_handler_tasks()
                completed = True
            finally:
                # Runs also when the release is cancelled (or fails) above: the handle is
                # released, the client's close is started and the iterators end whatever
                # happens, so no events() iterator waits forever and a later disconnect() has
                # nothing left to do but wait for the close.
                try:
                    self._release_handle(session)
                    if completed:
                        await self._wait_closed()
                finally:
                    if was != ConnectionState.DISCONNECTED:
                        self.emit("connection_state_changed", ConnectionState.DISCONNECTED)
                    self._disconnected.set()
                    if final:
                        self._close_iterators()

    async def _wait_closed(self) -> None:
        """Waits for the private client's close, if one was started (its failure is logged)."""
        closing = self._closing
        if closing is not None:
            try:
                await asyncio.shield(closing)
            except Exception:  # noqa: BLE001 - logged by _log_close_failure
                pass

    def _release_handle(self, session: RoomSession) -> None:
        """Drops the room handle and starts closing a private client (on a helper thread)."""
        client = session.client
        if client is None:
            return
        if session.handle:
            client.drop(session.handle)
        if self._finalizer is not None:
            self._finalizer.detach()
        if self._client_arg is None and not client.closed:
            closing = _start_blocking(client.close)
            closing.add_done_callback(_log_close_failure)
            self._closing = closing

    def _end_children(self, reason: int) -> None:
        for s in list(self._session.subscriptions.values()):
            s._end(reason)
        for r in list(self._session.readers.values()):
            r._end(errors.AbortedError("the room disconnected"))

    def set_shared_key(self, key: bytes, key_index: int = 0) -> None:
        """Replaces the E2EE shared key at ``key_index`` (key rotation)."""
        self._session.set_shared_key(key, key_index)

    # -- RPC registration ----------------------------------------------------------------------

    def register_rpc_method(self, method: str, handler: Optional[RpcHandler] = None) -> Any:
        """Registers an RPC handler, also before :meth:`connect` (recommended: no early
        invocation is missed). Same as ``local_participant.register_rpc_method``; usable as a
        decorator.

        Raises:
            AlreadyExistsError: ``method`` already has a handler.
        """
        return self._session.register_rpc(method, handler)

    def unregister_rpc_method(self, method: str) -> None:
        """Removes an RPC handler (no error if none is registered)."""
        self._session.unregister_rpc(method)

    def _on_rpc_invocation(self, inv: pb.RpcInvocation) -> None:
        handler = self._session.rpc_handlers.get(inv.method)
        data = RpcInvocationData(
            inv.rpc_request_id, inv.caller_identity, inv.payload, inv.response_timeout_ms / 1000.0, inv.method
        )
        self._spawn(self._answer_rpc(inv.invocation_id, handler, data), f"RPC handler {inv.method!r}")

    async def _answer_rpc(self, invocation_id: int, handler: Optional[RpcHandler], data: RpcInvocationData) -> None:
        resp = pb.RespondRpcRequest(room_handle=self._session.handle, invocation_id=invocation_id)
        try:
            if handler is None:
                raise errors.RpcError(errors.RpcError.UNSUPPORTED_METHOD, "Method not supported at destination")
            res = handler(data)
            if inspect.isawaitable(res):
                res = await res
            resp.payload = "" if res is None else str(res)
        except errors.RpcError as e:
            resp.error.CopyFrom(_rpc_error_to_proto(e, data.method))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("lkcore: RPC handler for %r raised", data.method)
            resp.error.CopyFrom(pb.RpcError(code=errors.RpcError.APPLICATION_ERROR, message="Application error in method handler"))
        client = self._session.client
        if client is None or client.closed:
            return
        try:
            client.request(pb.Request(respond_rpc=resp))
        except errors.NotFoundError:
            logger.warning("lkcore: RPC %r answered after its deadline; the caller got a timeout", data.method)
        except (errors.DisconnectedError, errors.ClientClosedError, errors.InvalidHandleError):
            pass
        except errors.LkError as e:  # e.g. a response the library refuses: the caller times out
            logger.warning("lkcore: the answer of RPC %r was refused: %s", data.method, e)

    # -- stream handlers -----------------------------------------------------------------------

    def register_text_stream_handler(self, topic: str, handler: TextStreamHandler) -> None:
        """Accepts incoming text streams on ``topic``: ``handler(reader, participant_identity)``.

        Raises:
            AlreadyExistsError: the topic already has a text handler.
        """
        self._session.register_stream(pb.STREAM_KIND_TEXT, topic, handler)

    def register_byte_stream_handler(self, topic: str, handler: ByteStreamHandler) -> None:
        """Accepts incoming byte streams on ``topic``: ``handler(reader, participant_identity)``.

        Raises:
            AlreadyExistsError: the topic already has a byte handler.
        """
        self._session.register_stream(pb.STREAM_KIND_BYTES, topic, handler)

    def unregister_text_stream_handler(self, topic: str) -> None:
        """Stops accepting text streams on ``topic``."""
        self._session.unregister_stream(pb.STREAM_KIND_TEXT, topic)

    def unregister_byte_stream_handler(self, topic: str) -> None:
        """Stops accepting byte streams on ``topic``."""
        self._session.unregister_stream(pb.STREAM_KIND_BYTES, topic)

    def _on_stream_opened(self, so: pb.StreamOpened) -> int:
        """Hands a new stream's reader to the handler registered for its topic; returns the
        reader's handle, or 0 when no handler is (unregistered meanwhile): then no reader is
        made and the caller releases what the event hands over."""
        session = self._session
        owned = so.reader
        info: Union[TextStreamInfo, ByteStreamInfo]
        handler: Any
        if owned.WhichOneof("info") == "bytes":
            info = ByteStreamInfo._from_proto(owned.bytes)
            handler = session.byte_handlers.get(info.topic)
        else:
            info = TextStreamInfo._from_proto(owned.text)
            handler = session.text_handlers.get(info.topic)
        if handler is None:  # unregistered meanwhile: the stream is discarded
            return 0
        client = session.adopt(owned.handle)
        reader: Union[TextStreamReader, ByteStreamReader]
        if isinstance(info, ByteStreamInfo):
            reader = ByteStreamReader(client, owned.handle, so.participant_identity, info)
        else:
            reader = TextStreamReader(client, owned.handle, so.participant_identity, info)
        session.readers[owned.handle] = reader
        try:
            res = handler(reader, so.participant_identity)
        except Exception:
            logger.exception("lkcore: stream handler raised")
            return owned.handle
        if inspect.isawaitable(res):
            self._spawn(res, "stream handler")
        return owned.handle

    # -- data tracks ---------------------------------------------------------------------------

    def _add_remote_track(self, t: pb.RemoteDataTrackInfo) -> Optional[RemoteDataTrack]:
        p = self._remote.get(t.publisher_identity)
        if p is None:
            logger.debug("lkcore: data track of unknown participant %r ignored", t.publisher_identity)
            return None
        info = DataTrackInfo._from_proto(t.info)
        existing = p.data_tracks.get(info.name)
        if existing is not None:
            # Republished with a new sid after the publisher's full reconnect (same object,
            # updated in place).
            existing._info = info
            existing._published = True
            return existing
        track = RemoteDataTrack(self._session, p, info)
        track._subscription_revoked = t.subscription_revoked
        p.data_tracks[track.name] = track
        return track

    def _adopt_auto_subscription(self, track: Optional[RemoteDataTrack], handle: int) -> None:
        """Keeps the subscription the library opened for ``track`` (auto_subscribe) until the
        user takes it with ``track.subscribe()``. It is delivered with credits (RoomOptions
        ._to_proto): its frames wait in the library's buffer, none is buffered or evicted here
        beyond the credit window."""
        session = self._session
        if track is None:
            session.adopt(handle).drop(handle)
            return
        if track._auto_sub is not None:  # a previous one was never taken: replace it
            track._auto_sub.close()
        track._auto_sub = session.adopt_subscription(track, handle, credit_window(session.options.data_track_buffer_size))

    # -- room events ---------------------------------------------------------------------------

    def _set_state(self, state: ConnectionState) -> None:
        if state != self._state:
            self._state = state
            self.emit("connection_state_changed", state)

    def _participant(self, identity: str) -> Optional[Union[LocalParticipant, RemoteParticipant]]:
        if self._local is not None and identity == self._local.identity:
            return self._local
        return self._remote.get(identity)

    def _speakers(self, identities: Sequence[str]) -> List[Participant]:
        """The library's list of active speakers as participant objects, in its order (BINDINGS.md:
        mapped, never sorted or recomputed). An identity the model does not hold (none, while it
        equals the library's) is left out."""
        out: List[Participant] = []
        for identity in identities:
            p = self._participant(identity)
            if p is None:
                logger.debug("lkcore: active speaker %r unknown to the room, left out", identity)
            else:
                out.append(p)
        return out

    def _on_ffi_event(self, ev: pb.Event) -> None:
        re = ev.room
        taken = 0  # the handle this event hands over that an object here takes over (0: none)
        try:
            taken = self._on_room_event(re)
        finally:
            self._release_owned(re, taken)

    def _release_owned(self, re: pb.RoomEvent, taken: int) -> None:
        """Releases every handle ``re`` hands over (``RoomEvent.owned_handles``, ABI 1.11) but
        ``taken``: all of them when the event reaches no one (a stream on a topic with no
        handler, a track of an unknown participant, a kind this binding does not know), so no
        list of which event kinds own handles is kept here."""
        client = self._session.client
        if client is not None:
            client.release_handed_over(re.owned_handles, self._session.handle, keep=taken)

    def _on_room_event(self, re: pb.RoomEvent) -> int:
        """Applies and emits a room event; returns the handle it hands over that an object
        here took over (a stream's reader, a track's auto-subscription), else 0."""
        taken = 0
        kind = re.WhichOneof("message")
        if kind == "connection_state_changed":
            self._set_state(enum_value(ConnectionState, re.connection_state_changed.state))
        elif kind == "reconnecting":
            self._set_state(ConnectionState.RECONNECTING)
            self.emit("reconnecting", enum_value(ReconnectKind, re.reconnecting.kind), re.reconnecting.attempt)
        elif kind == "reconnected":
            self._set_state(ConnectionState.CONNECTED)
            rc = re.reconnected
            self.emit("reconnected", enum_value(ReconnectKind, rc.kind), rc.discarded_packets, rc.replayed_packets)
        elif kind == "disconnected":
            reason = enum_value(DisconnectReason, re.disconnected.reason)
            self._end_children(SubscriptionEndReason.DISCONNECTED)
            self._set_state(ConnectionState.DISCONNECTED)
            self.emit("disconnected", reason)
            self._disconnected.set()
        elif kind == "room_updated":
            ru = re.room_updated
            self._info.CopyFrom(ru.info)
            if ru.metadata_changed:
                self.emit("room_metadata_changed", ru.old_metadata, ru.info.metadata)
            self.emit("room_updated")
        elif kind == "room_moved":
            self._info.CopyFrom(re.room_moved.info)
            self.emit("moved")
        elif kind == "participant_connected":
            info = re.participant_connected.info
            p = self._remote.get(info.identity)
            if p is None:
                p = RemoteParticipant(info)
                self._remote[info.identity] = p
            else:
                p._update(info)
            self.emit("participant_connected", p)
        elif kind == "participant_disconnected":
            pd = re.participant_disconnected
            # The library has reported each of its tracks unpublished before (ABI 1.15).
            p = self._remote.pop(pd.identity, None)
            if p is not None:
                self.emit("participant_disconnected", p, enum_value(DisconnectReason, pd.reason))
        elif kind == "participant_updated":
            self._on_participant_updated(re.participant_updated)
        elif kind == "active_speakers_changed":
            self._active_speakers = self._speakers(re.active_speakers_changed.identities)
            self.emit("active_speakers_changed", list(self._active_speakers))
        elif kind == "data_received":
            d = re.data_received
            self.emit(
                "data_received",
                DataPacket(d.payload, self._remote.get(d.participant_identity), d.participant_identity, d.topic,
                           d.reliable, d.encrypted),
            )
        elif kind == "chat_message_received":
            cm = re.chat_message_received
            self.emit(
                "chat_message_received",
                ChatMessage._from_proto(cm.message),
                self._remote.get(cm.participant_identity),
                cm.participant_identity,
            )
        elif kind == "transcription_received":
            tr = re.transcription_received
            self.emit(
                "transcription_received",
                Transcription._from_proto(tr.transcription),
                self._remote.get(tr.participant_identity),
                tr.participant_identity,
            )
        elif kind == "sip_dtmf_received":
            t = re.sip_dtmf_received
            self.emit(
                "sip_dtmf_received",
                SipDTMF(t.code, t.digit, self._remote.get(t.participant_identity), t.participant_identity),
            )
        elif kind == "data_track_published":
            dp = re.data_track_published
            track = self._add_remote_track(dp.track)
            if track is not None and dp.HasField("auto_subscription"):
                self._adopt_auto_subscription(track, dp.auto_subscription.handle)
                taken = dp.auto_subscription.handle
            if track is not None:
                self.emit("data_track_published", track)
        elif kind == "data_track_unpublished":
            u = re.data_track_unpublished
            p = self._remote.get(u.publisher_identity)
            track = p.data_track_by_sid(u.sid) if p is not None else None
            if p is not None and track is not None:
                p.data_tracks.pop(track.name, None)
                track._published = False
                if track._auto_sub is not None:
                    # Never taken, and no longer obtainable: released now, with the frames the
                    # library buffered for it, rather than whenever the garbage collector breaks
                    # the track <-> subscription cycle (as Kotlin and C++ do).
                    sub, track._auto_sub = track._auto_sub, None
                    sub.close()
                self.emit("data_track_unpublished", track)
        elif kind == "data_track_sid_changed":
            self._on_data_track_sid_changed(re.data_track_sid_changed)
        elif kind == "data_track_subscription_permission_changed":
            pc = re.data_track_subscription_permission_changed
            p = self._remote.get(pc.publisher_identity)
            track = (p.data_tracks.get(pc.name) or p.data_track_by_sid(pc.sid)) if p is not None else None
            if track is not None:
                track._subscription_revoked = not pc.allowed
                self.emit("data_track_subscription_permission_changed", track, pc.allowed)
        elif kind == "local_data_track_unpublished":
            u2 = re.local_data_track_unpublished
            lt = self._session.local_tracks.get(u2.track_handle)
            if lt is not None:
                if self._local is not None and self._local.data_tracks.get(lt.name) is lt:
                    self._local.data_tracks.pop(lt.name, None)
                self.emit("local_data_track_unpublished", lt, error_from_proto(u2.reason) if u2.HasField("reason") else None)
        elif kind == "local_data_track_sid_changed":
            c = re.local_data_track_sid_changed
            lt = self._session.local_tracks.get(c.track_handle)
            if lt is not None:
                lt._info = DataTrackInfo._from_proto(c.info)
                self.emit("local_data_track_sid_changed", lt, c.old_sid)
        elif kind == "rpc_invocation":
            self._on_rpc_invocation(re.rpc_invocation)
        elif kind == "stream_opened":
            taken = self._on_stream_opened(re.stream_opened)
        elif kind == "encryption_state_changed":
            e = re.encryption_state_changed
            self.emit("e2ee_state_changed", e.participant_identity, enum_value(EncryptionState, e.state))
        return taken

    def _on_data_track_sid_changed(self, c: pb.RemoteDataTrackSidChanged) -> None:
        # The same track (keyed by publisher and name) under a new sid: updated in place, so the
        # participant's tracks, data_track_by_sid and later subscribes use the new sid.
        p = self._remote.get(c.publisher_identity)
        if p is None:
            return
        track = p.data_tracks.get(c.name) or p.data_track_by_sid(c.old_sid)
        if track is None:
            logger.debug("lkcore: sid change of unknown data track %r of %r ignored", c.name, c.publisher_identity)
            return
        track._info = dataclasses.replace(track._info, sid=c.sid)
        self.emit("data_track_sid_changed", track, c.old_sid)

    def _on_participant_updated(self, u: pb.ParticipantUpdated) -> None:
        # The event carries what changed and the previous values: nothing is compared here.
        p = self._participant(u.info.identity)
        if p is None:
            return
        p._update(u.info)
        if u.name_changed:
            self.emit("participant_name_changed", p, u.old_name, u.info.name)
        if u.metadata_changed:
            self.emit("participant_metadata_changed", p, u.old_metadata, u.info.metadata)
        if u.changed_attributes:
            self.emit("participant_attributes_changed", {k: u.info.attributes.get(k, "") for k in u.changed_attributes}, p)
        if u.permission_changed:
            self.emit("participant_permissions_changed", p)
        if u.connection_quality_changed:
            self.emit("connection_quality_changed", p, p.connection_quality)
        if u.speaking_changed:  # ABI 1.29; an active_speakers_changed follows if the list changed
            self.emit("participant_speaking_changed", p, p.is_speaking, p.audio_level)
        # ABI 1.25: at most one of the three, and then nothing else changed; the list itself is
        # part of the info applied above (no store of tracks here).
        if u.HasField("track_published"):
            self.emit("track_published", TrackPublication._from_proto(u.track_published), p)
        elif u.HasField("track_unpublished"):
            self.emit("track_unpublished", TrackPublication._from_proto(u.track_unpublished), p)
        elif u.HasField("track_mute_changed"):
            pub = TrackPublication._from_proto(u.track_mute_changed)
            self.emit("track_muted" if pub.muted else "track_unmuted", p, pub)

    def __repr__(self) -> str:
        return f"<lkcore.Room name={self.name!r} state={self._state.name}>"
