"""Participants: the local participant (publishing, RPC, streams) and remote participants."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Union, cast

from ._client import bytes_arg, enum_value, seconds_to_ms
from ._proto import lkcore_ffi_pb2 as pb
from .data_stream import (
    ByteStreamInfo,
    ByteStreamWriter,
    TextStreamInfo,
    TextStreamWriter,
    _byte_options,
    _text_options,
)
from .data_track import LocalDataTrack, RemoteDataTrack
from .rpc import RpcHandler

if TYPE_CHECKING:
    from ._session import RoomSession

__all__ = [
    "ChatMessage",
    "ConnectionQuality",
    "ParticipantKind",
    "ParticipantPermission",
    "ParticipantTrackPermission",
    "TrackKind",
    "TrackPublication",
    "TrackSource",
    "Transcription",
    "TranscriptionSegment",
    "Participant",
    "LocalParticipant",
    "RemoteParticipant",
]


class ParticipantKind(enum.IntEnum):
    """Kind of participant (values of ``lkcore.ffi.v1.ParticipantKind``)."""

    UNSPECIFIED = pb.PARTICIPANT_KIND_UNSPECIFIED
    STANDARD = pb.PARTICIPANT_KIND_STANDARD
    INGRESS = pb.PARTICIPANT_KIND_INGRESS
    EGRESS = pb.PARTICIPANT_KIND_EGRESS
    SIP = pb.PARTICIPANT_KIND_SIP
    AGENT = pb.PARTICIPANT_KIND_AGENT
    CONNECTOR = pb.PARTICIPANT_KIND_CONNECTOR
    BRIDGE = pb.PARTICIPANT_KIND_BRIDGE


class ParticipantKindDetail(enum.IntEnum):
    """A detail refining a participant's kind (values of ``lkcore.ffi.v1.ParticipantKindDetail``);
    ``UNSPECIFIED`` stands for a detail newer than the library."""

    UNSPECIFIED = pb.PARTICIPANT_KIND_DETAIL_UNSPECIFIED
    CLOUD_AGENT = pb.PARTICIPANT_KIND_DETAIL_CLOUD_AGENT
    FORWARDED = pb.PARTICIPANT_KIND_DETAIL_FORWARDED
    CONNECTOR_WHATSAPP = pb.PARTICIPANT_KIND_DETAIL_CONNECTOR_WHATSAPP
    CONNECTOR_TWILIO = pb.PARTICIPANT_KIND_DETAIL_CONNECTOR_TWILIO
    BRIDGE_RTSP = pb.PARTICIPANT_KIND_DETAIL_BRIDGE_RTSP
    SIMULATION = pb.PARTICIPANT_KIND_DETAIL_SIMULATION


class ConnectionQuality(enum.IntEnum):
    """The server's rating of a participant's connection (values of
    ``lkcore.ffi.v1.ConnectionQuality``; livekit.rtc's names). The server rates a participant from
    its media tracks: one without any, as every lkcore client, is ``QUALITY_EXCELLENT``."""

    QUALITY_UNKNOWN = pb.CONNECTION_QUALITY_UNKNOWN
    """Not rated yet (or a rating newer than the library)."""
    QUALITY_POOR = pb.CONNECTION_QUALITY_POOR
    QUALITY_GOOD = pb.CONNECTION_QUALITY_GOOD
    QUALITY_EXCELLENT = pb.CONNECTION_QUALITY_EXCELLENT
    QUALITY_LOST = pb.CONNECTION_QUALITY_LOST
    """The participant's media stopped arriving."""


class TrackKind(enum.IntEnum):
    """What a media track carries (values of ``lkcore.ffi.v1.TrackKind``). A kind newer than this
    binding shows as ``AUDIO``, the schema's zero value."""

    AUDIO = pb.TRACK_KIND_AUDIO
    VIDEO = pb.TRACK_KIND_VIDEO


class TrackSource(enum.IntEnum):
    """What a media track captures (values of ``lkcore.ffi.v1.TrackSource``)."""

    UNKNOWN = pb.TRACK_SOURCE_UNKNOWN
    """Not said by the publisher (or a source newer than this binding)."""
    CAMERA = pb.TRACK_SOURCE_CAMERA
    MICROPHONE = pb.TRACK_SOURCE_MICROPHONE
    SCREEN_SHARE = pb.TRACK_SOURCE_SCREEN_SHARE
    SCREEN_SHARE_AUDIO = pb.TRACK_SOURCE_SCREEN_SHARE_AUDIO


@dataclass(frozen=True)
class TrackPublication:
    """A media track (audio or video) a participant publishes, as the server describes it to
    everyone in the room (``lkcore.ffi.v1.TrackPublicationInfo``, ABI 1.25;
    :attr:`Participant.track_publications`).

    lkcore sends and receives no audio or video: this describes who has a microphone, a camera
    or a screen share published, and whether it is muted. A change comes as the room's
    ``track_published``, ``track_unpublished``, ``track_muted`` or ``track_unmuted`` event (a
    change of its name or dimensions only updates the participant's ``track_publications``).

    Attributes:
        sid: the track's sid (``"TR_..."``).
        name: the publisher's name for it (``""`` when it gave none).
        kind: :attr:`TrackKind.AUDIO` or :attr:`TrackKind.VIDEO`.
        source: what it captures (:attr:`TrackSource.UNKNOWN` when not said).
        muted: the publisher muted it (it sends nothing until unmuted).
        mime_type: the codec, e.g. ``"audio/opus"``, ``"video/VP8"`` (``""`` until the server
            knows it).
        width: a video track's largest width in pixels (0 when not said).
        height: a video track's largest height in pixels (0 when not said).
        simulcast: a video track sent in several qualities (livekit.rtc's ``simulcasted``).
        encrypted: end-to-end encrypted (livekit.rtc's ``encryption_type`` is not ``NONE``).
    """

    sid: str
    name: str = ""
    kind: TrackKind = TrackKind.AUDIO
    source: TrackSource = TrackSource.UNKNOWN
    muted: bool = False
    mime_type: str = ""
    width: int = 0
    height: int = 0
    simulcast: bool = False
    encrypted: bool = False

    @classmethod
    def _from_proto(cls, t: pb.TrackPublicationInfo) -> "TrackPublication":
        return cls(
            t.sid,
            t.name,
            enum_value(TrackKind, t.kind),
            enum_value(TrackSource, t.source),
            t.muted,
            t.mime_type,
            t.width,
            t.height,
            t.simulcast,
            t.encrypted,
        )


@dataclass(frozen=True)
class ParticipantPermission:
    """What a participant is allowed to do."""

    can_subscribe: bool = False
    can_publish: bool = False
    can_publish_data: bool = False
    hidden: bool = False


@dataclass(frozen=True)
class ChatMessage:
    """A chat message of the legacy kind (what the official clients' deprecated
    ``sendChatMessage`` / ``editChatMessage`` send; newer clients chat with text streams on the
    topic ``"lk.chat"``: ``send_text`` and a text-stream handler).

    Attributes:
        id: identifies the message (a UUID); an edit keeps it.
        timestamp_ms: when the message was first sent, in Unix milliseconds.
        message: the text.
        edit_timestamp_ms: when the message was last edited, in Unix milliseconds; 0 if never.
        deleted: set by a sender that withdrew the message.
        generated: set for a message an agent generated (e.g. from a transcription).
    """

    id: str
    timestamp_ms: int
    message: str
    edit_timestamp_ms: int = 0
    deleted: bool = False
    generated: bool = False

    @classmethod
    def _from_proto(cls, m: pb.ChatMessage) -> "ChatMessage":
        return cls(m.id, m.timestamp_ms, m.message, m.edit_timestamp_ms, m.deleted, m.generated)

    def _to_proto(self) -> pb.ChatMessage:
        return pb.ChatMessage(
            id=self.id,
            timestamp_ms=self.timestamp_ms,
            message=self.message,
            edit_timestamp_ms=self.edit_timestamp_ms,
            deleted=self.deleted,
            generated=self.generated,
        )


@dataclass(frozen=True)
class TranscriptionSegment:
    """One piece of transcribed text (the fields in the order of ``livekit.rtc``'s).

    Attributes:
        id: identifies the segment; its updates (interim text, then the final one) repeat it.
        text: the text so far.
        start_time: the segment's start in the transcribed track's media, in the sender's unit
            (passed unchanged; 0 when not said).
        end_time: its end, likewise.
        language: the language of the text (e.g. "en"); "" if not known.
        final: set on the segment's last update.
    """

    id: str
    text: str
    start_time: int = 0
    end_time: int = 0
    language: str = ""
    final: bool = False

    @classmethod
    def _from_proto(cls, s: pb.TranscriptionSegment) -> "TranscriptionSegment":
        return cls(s.id, s.text, s.start_time, s.end_time, s.language, s.final)

    def _to_proto(self) -> pb.TranscriptionSegment:
        return pb.TranscriptionSegment(
            id=self.id,
            text=self.text,
            start_time=self.start_time,
            end_time=self.end_time,
            final=self.final,
            language=self.language,
        )


@dataclass(frozen=True)
class Transcription:
    """A legacy transcription: an agent's segments of text for one participant's track.

    Attributes:
        participant_identity: whose speech was transcribed (not the sender; may be the local
            participant).
        track_sid: the transcribed track's sid; "" if the sender names none.
        segments: the segments, in the sender's order (kept as a tuple, whatever sequence is
            given, so that equal transcriptions compare equal).
    """

    participant_identity: str
    track_sid: str
    segments: Sequence[TranscriptionSegment]

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(self.segments))

    @classmethod
    def _from_proto(cls, t: pb.Transcription) -> "Transcription":
        return cls(
            t.participant_identity, t.track_sid, tuple(TranscriptionSegment._from_proto(s) for s in t.segments)
        )

    def _to_proto(self) -> pb.Transcription:
        return pb.Transcription(
            participant_identity=self.participant_identity,
            track_sid=self.track_sid,
            segments=[s._to_proto() for s in self.segments],
        )


@dataclass(frozen=True)
class ParticipantTrackPermission:
    """Allows one participant to subscribe to the local participant's data tracks
    (``LocalParticipant.set_track_subscription_permissions``; livekit.rtc's field names).

    Attributes:
        participant_identity: the participant allowed.
        allow_all: every track, also those published later; when False only
            ``allowed_track_sids``.
        allowed_track_sids: the tracks allowed when ``allow_all`` is False (``LocalDataTrack.sid``).
    """

    participant_identity: str
    allow_all: bool = False
    allowed_track_sids: Sequence[str] = ()


class Participant:
    """State shared by local and remote participants (a snapshot kept up to date by events)."""

    def __init__(self, info: pb.ParticipantInfo) -> None:
        self._info = pb.ParticipantInfo()
        self._update(info)

    def _update(self, info: pb.ParticipantInfo) -> None:
        self._info.CopyFrom(info)

    @property
    def sid(self) -> str:
        """Server-assigned participant sid."""
        return self._info.sid

    @property
    def identity(self) -> str:
        """The participant's identity (unique in the room)."""
        return self._info.identity

    @property
    def name(self) -> str:
        """Display name."""
        return self._info.name

    @property
    def metadata(self) -> str:
        """Application metadata."""
        return self._info.metadata

    @property
    def attributes(self) -> Dict[str, str]:
        """Attributes (a copy)."""
        return dict(self._info.attributes)

    @property
    def kind(self) -> ParticipantKind:
        """Participant kind."""
        return enum_value(ParticipantKind, self._info.kind)

    @property
    def kind_details(self) -> List[ParticipantKindDetail]:
        """Details refining the kind (a Cloud agent, a forwarded participant, a connector's
        service, ...), in the server's order; empty when none."""
        return [enum_value(ParticipantKindDetail, d) for d in self._info.kind_details]

    @property
    def joined_at_ms(self) -> int:
        """Join time in Unix milliseconds."""
        return self._info.joined_at_ms

    @property
    def client_protocol(self) -> int:
        """LiveKit client protocol version the participant advertises."""
        return self._info.client_protocol

    @property
    def connection_quality(self) -> ConnectionQuality:
        """The latest rating the server sent (``QUALITY_UNKNOWN`` until it rates the participant:
        it rates this room's own participant and those whose tracks the room subscribes to, when
        one joins or a rating changes). ``connection_quality_changed`` reports each change."""
        return enum_value(ConnectionQuality, self._info.connection_quality)

    @property
    def is_speaking(self) -> bool:
        """Whether the participant speaks, as the server's latest speaker update says (False until
        it sends one: it reports this room's own participant and those whose tracks, data tracks
        included, the room subscribes to). ``participant_speaking_changed`` reports each change;
        the room's ``active_speakers`` lists the speakers."""
        return self._info.is_speaking

    @property
    def audio_level(self) -> float:
        """The participant's audio level from the server's latest speaker update, from 0 (silent)
        to 1 (the server sends it in steps of 1/8); 0 when not speaking.
        ``participant_speaking_changed`` reports each change."""
        return self._info.audio_level

    @property
    def track_publications(self) -> Dict[str, TrackPublication]:
        """The participant's media tracks (audio, video) by sid, in the server's order (a copy,
        from its latest info; empty when it publishes none). Data tracks are not among them.
        The room's ``track_published``, ``track_unpublished``, ``track_muted`` and
        ``track_unmuted`` events report each change, with this already updated."""
        return {t.sid: TrackPublication._from_proto(t) for t in self._info.tracks}

    @property
    def permissions(self) -> ParticipantPermission:
        """The participant's permissions."""
        p = self._info.permission
        return ParticipantPermission(p.can_subscribe, p.can_publish, p.can_publish_data, p.hidden)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} identity={self.identity!r} sid={self.sid!r}>"


class RemoteParticipant(Participant):
    """Another participant of the room."""

    def __init__(self, info: pb.ParticipantInfo) -> None:
        super().__init__(info)
        #: Published data tracks by name: the stable key (unique per publisher; a track's sid
        #: can change across its publisher's full reconnect).
        self.data_tracks: Dict[str, RemoteDataTrack] = {}

    def data_track(self, name: str) -> Optional[RemoteDataTrack]:
        """Returns the participant's published data track called ``name``, or None."""
        return self.data_tracks.get(name)

    def data_track_by_sid(self, sid: str) -> Optional[RemoteDataTrack]:
        """Returns the participant's published data track with that sid, or None."""
        for t in self.data_tracks.values():
            if t.sid == sid:
                return t
        return None


class LocalParticipant(Participant):
    """The participant this process joined as: publishes data, tracks, RPCs and streams."""

    def __init__(self, session: "RoomSession", info: pb.ParticipantInfo) -> None:
        super().__init__(info)
        self._session = session
        #: Local data tracks published through this participant, by name.
        self.data_tracks: Dict[str, LocalDataTrack] = {}

    # -- data packets --------------------------------------------------------------------------

    async def publish_data(
        self,
        payload: Union[bytes, str],
        *,
        reliable: bool = True,
        topic: str = "",
        destination_identities: Sequence[str] = (),
    ) -> None:
        """Sends a data packet to the room (or to ``destination_identities``).

        Completes when the packet was handed to the data channel. Packets of a room are sent in
        call order.

        Raises:
            TypeError: ``payload`` is neither a str nor bytes-like (bytes, bytearray,
                memoryview).
            PayloadTooLargeError: the packet would exceed 64 000 bytes (use a stream).
            NotAllowedError: the server does not let this participant publish data (it
                would drop the packet).
            DisconnectedError: the room is not connected.
        """
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        await self._session.request_async(
            pb.Request(
                publish_data=pb.PublishDataRequest(
                    room_handle=self._session.require_handle(),
                    payload=bytes_arg(payload, "payload"),
                    reliable=reliable,
                    topic=topic,
                    destination_identities=list(destination_identities),
                )
            )
        )

    async def publish_dtmf(self, *, code: int, digit: str, destination_identities: Sequence[str] = ()) -> None:
        """Sends a DTMF tone (a telephone keypad key) to the room (or to ``destination_identities``).

        A SIP participant plays ``digit`` to its caller, one tone per character; ``code`` is the
        telephone-event code (0-9 the digits, 10 ``*``, 11 ``#``, 12-15 ``A``-``D``). Sent on the
        reliable channel in call order with ``publish_data``, and never end-to-end encrypted (a
        SIP participant has no key).

        Raises:
            InvalidArgumentError: ``code`` is above 255, or ``digit`` is empty or longer than 256
                bytes.
            ValueError: ``code`` is negative or not below 2**32.
            NotAllowedError: the server does not let this participant publish data.
            DisconnectedError: the room is not connected.
        """
        await self._session.request_async(
            pb.Request(
                publish_sip_dtmf=pb.PublishSipDtmfRequest(
                    room_handle=self._session.require_handle(),
                    code=code,
                    digit=digit,
                    destination_identities=list(destination_identities),
                )
            )
        )

    async def send_chat_message(
        self, message: str, *, destination_identities: Sequence[str] = (), sender_identity: str = ""
    ) -> ChatMessage:
        """Sends ``message`` as a new legacy chat message (a fresh id, stamped now) and returns it.

        Sent on the reliable channel in call order with ``publish_data``, end-to-end encrypted
        when the room is. The official SDKs deprecate it for ``send_text`` on ``"lk.chat"``;
        use it to talk with clients that still chat this way. ``sender_identity`` (an agent
        only): as for ``send_text``; the server marks the message generated.

        Raises:
            PayloadTooLargeError: the message exceeds the 64 000-byte packet limit.
            NotAllowedError: the server does not let this participant publish data, or
                ``sender_identity`` names another participant and this one is not an agent.
            InvalidArgumentError: ``sender_identity`` names another participant in an end-to-end
                encrypted room.
            DisconnectedError: the room is not connected.
        """
        comp = await self._session.request_async(
            pb.Request(
                send_chat_message=pb.SendChatMessageRequest(
                    room_handle=self._session.require_handle(),
                    message=message,
                    destination_identities=list(destination_identities),
                    sender_identity=sender_identity,
                )
            )
        )
        return ChatMessage._from_proto(comp.send_chat_message)

    async def edit_chat_message(
        self,
        message: str,
        original: ChatMessage,
        *,
        destination_identities: Sequence[str] = (),
        sender_identity: str = "",
    ) -> ChatMessage:
        """Sends ``message`` as the new text of ``original`` (its id and timestamp, stamped with
        the edit time) and returns the edit.

        Raises:
            InvalidArgumentError: ``original`` has no id.
            PayloadTooLargeError, NotAllowedError, InvalidArgumentError, DisconnectedError: as
                ``send_chat_message``.
        """
        comp = await self._session.request_async(
            pb.Request(
                edit_chat_message=pb.EditChatMessageRequest(
                    room_handle=self._session.require_handle(),
                    message=message,
                    original=original._to_proto(),
                    destination_identities=list(destination_identities),
                    sender_identity=sender_identity,
                )
            )
        )
        return ChatMessage._from_proto(comp.edit_chat_message)

    async def publish_transcription(self, transcription: Transcription) -> None:
        """Publishes ``transcription`` (an agent's segments of text for a participant's track) to
        everyone else, on the reliable channel in call order with ``publish_data``.

        This is the legacy transcription packet that the official clients report as
        ``transcription_received``; newer agents also send the text with ``send_text`` on
        ``"lk.transcription"``. The server forwards it from an agent only, and it has no
        end-to-end encrypted form.

        Raises:
            NotAllowedError: this participant is not an agent (the server would drop it), or
                may not publish data.
            InvalidArgumentError: the room uses end-to-end encryption; no
                ``participant_identity``; no segment or more than 1024; a segment without id.
            ValueError: a time is negative or not below 2**64.
            PayloadTooLargeError: it exceeds the 64 000-byte packet limit.
            DisconnectedError: the room is not connected.
        """
        await self._session.request_async(
            pb.Request(
                publish_transcription=pb.PublishTranscriptionRequest(
                    room_handle=self._session.require_handle(), transcription=transcription._to_proto()
                )
            )
        )

    async def set_track_subscription_permissions(
        self,
        *,
        allow_all_participants: bool,
        participant_permissions: Optional[Sequence[ParticipantTrackPermission]] = None,
    ) -> None:
        """Sets who may subscribe to this participant's data tracks.

        With ``allow_all_participants`` everyone may (what the server assumes until the first
        call; ``participant_permissions`` is then ignored); otherwise only the participants in
        ``participant_permissions``, each to all the tracks or to the sids it lists. Each call
        replaces the previous one. The server applies it at once: a subscriber no longer allowed
        stops receiving (it gets ``data_track_subscription_permission_changed``) until allowed
        again; recorders are exempt. The library keeps the permissions for the room and sends
        them again after a full reconnect, with the new sid of each republished track they
        name. Returns once the request is sent; the server sends no answer.

        Raises:
            InvalidArgumentError: a permission without ``participant_identity``.
            PayloadTooLargeError: the request exceeds the 2 MiB a LiveKit server reads.
            DisconnectedError: the room is not connected.
        """
        perms = [
            pb.TrackPermission(
                participant_identity=p.participant_identity,
                all_tracks=p.allow_all,
                track_sids=list(p.allowed_track_sids),
            )
            for p in (participant_permissions or ())
        ]
        await self._session.request_async(
            pb.Request(
                set_track_subscription_permissions=pb.SetTrackSubscriptionPermissionsRequest(
                    room_handle=self._session.require_handle(),
                    all_participants=allow_all_participants,
                    permissions=perms,
                )
            )
        )

    # -- own metadata --------------------------------------------------------------------------

    async def set_metadata(self, metadata: str) -> None:
        """Sets the local participant's metadata (needs the canUpdateOwnMetadata grant)."""
        await self._session.request_async(
            pb.Request(
                set_local_metadata=pb.SetLocalMetadataRequest(
                    room_handle=self._session.require_handle(), metadata=metadata
                )
            )
        )

    async def set_name(self, name: str) -> None:
        """Sets the local participant's display name."""
        await self._session.request_async(
            pb.Request(set_local_name=pb.SetLocalNameRequest(room_handle=self._session.require_handle(), name=name))
        )

    async def set_attributes(self, attributes: Mapping[str, str]) -> None:
        """Updates attributes; keys with an empty value are deleted."""
        await self._session.request_async(
            pb.Request(
                set_local_attributes=pb.SetLocalAttributesRequest(
                    room_handle=self._session.require_handle(), attributes=dict(attributes)
                )
            )
        )

    # -- data tracks ---------------------------------------------------------------------------

    async def publish_data_track(
        self,
        name: str,
        *,
        schema_name: str = "",
        frame_encoding: str = "",
        schema_encoding: str = "",
        queue_size: int = 0,
        queue_bytes: int = 0,
        drop_oldest: bool = False,
    ) -> LocalDataTrack:
        """Publishes a data track and returns it.

        Args:
            name: non-empty, unique among this participant's tracks.
            schema_name, frame_encoding, schema_encoding: optional typed-track metadata
                (well-known encodings by name, e.g. ``"json"``, ``"protobuf"``, ``"cdr"``;
                a schema needs a frame encoding).
            queue_size: bound of the outgoing frame queue in frames (0 = the library's
                default, 1 024; at most 65 536).
            queue_bytes: bound of the outgoing queue in serialized bytes (0 = the library's
                default, 1 MiB; at most 64 MiB, more raises InvalidArgumentError).
            drop_oldest: what a full queue does with a new frame. False (default):
                ``try_push`` raises QueueFullError and ``push`` waits for space. True: the
                oldest waiting frames are evicted, whole, and counted in
                ``stats().evicted``.

        Raises:
            AlreadyExistsError, InvalidArgumentError, NotAllowedError, LimitReachedError,
            UnsupportedError (server without data tracks), OperationTimeoutError.
        """
        session = self._session

        def on_result(comp: pb.Completion) -> LocalDataTrack:
            t = session.local_track_published(comp.publish_data_track.track)
            self.data_tracks[t.name] = t
            return t

        track: LocalDataTrack = await session.request_async(
            pb.Request(
                publish_data_track=pb.PublishDataTrackRequest(
                    room_handle=session.require_handle(),
                    name=name,
                    schema_name=schema_name,
                    frame_encoding=frame_encoding,
                    schema_encoding=schema_encoding,
                    queue_size=queue_size,
                    queue_bytes=queue_bytes,
                    drop_oldest=drop_oldest,
                )
            ),
            on_result=on_result,
        )
        return track

    async def define_schema(self, schema_name: str, definition: str, *, schema_encoding: str = "") -> None:
        """Stores the definition of a data-track schema on the server.

        Subscribers of this participant's typed tracks read it with :meth:`get_schema`; define
        it before publishing a track that names it. A schema is its name *and* its encoding
        (well-known encodings by name, e.g. ``"protobuf"``, ``"json_schema"``, ``"ros2_msg"``).
        Defining the same schema again replaces the definition. The library keeps what it
        stored and stores it again after a full reconnect (the server forgets it with the old
        session). Returns once the server has stored it (within 5 s).

        Raises:
            InvalidArgumentError: an empty schema name or one longer than 256 bytes, an empty
                definition or one longer than 50 000 bytes, a custom encoding the server
                refuses.
            NotAllowedError: the server does not store definitions (a LiveKit server does only
                with ``enable_participant_data_blob``, off by default).
            LimitReachedError: this participant's definitions together exceed the server's
                bound (64 000 bytes by default) or the library's (1 MiB).
            DisconnectedError, OperationTimeoutError.
        """
        await self._session.request_async(
            pb.Request(
                define_data_track_schema=pb.DefineDataTrackSchemaRequest(
                    room_handle=self._session.require_handle(),
                    schema_name=schema_name,
                    schema_encoding=schema_encoding,
                    definition=definition,
                )
            )
        )

    async def get_schema(self, participant_identity: str, schema_name: str, *, schema_encoding: str = "") -> str:
        """Returns the definition ``participant_identity`` stored for a schema (name and encoding).

        The participant may be this one. Each call asks the server: a publisher can define a
        schema again.

        Raises:
            NotFoundError: no participant of that identity in the room, or no definition of
                that schema (name and encoding must both match).
            InvalidArgumentError: an empty identity or schema name.
            ProtocolError: the stored definition is not UTF-8.
            DisconnectedError, OperationTimeoutError.
        """
        definition: str = await self._session.request_async(
            pb.Request(
                get_data_track_schema=pb.GetDataTrackSchemaRequest(
                    room_handle=self._session.require_handle(),
                    participant_identity=participant_identity,
                    schema_name=schema_name,
                    schema_encoding=schema_encoding,
                )
            ),
            on_result=lambda comp: comp.get_data_track_schema.definition,
        )
        return definition

    # -- RPC -----------------------------------------------------------------------------------

    async def perform_rpc(
        self,
        destination_identity: str,
        method: str,
        payload: str,
        response_timeout: Optional[float] = None,
    ) -> str:
        """Calls ``method`` on ``destination_identity`` and returns its response payload.

        Args:
            response_timeout: seconds to wait for the response (None = the room default, 15 s;
                capped at about 49.7 days; negative or NaN raises InvalidArgumentError).

        Raises:
            RpcError: the remote handler failed, or a built-in RPC failure (e.g. 1502
                RESPONSE_TIMEOUT, 1400 UNSUPPORTED_METHOD, 1401 RECIPIENT_NOT_FOUND).
        """
        comp: pb.Completion = await self._session.request_async(
            pb.Request(
                perform_rpc=pb.PerformRpcRequest(
                    room_handle=self._session.require_handle(),
                    destination_identity=destination_identity,
                    method=method,
                    payload=payload,
                    response_timeout_ms=0 if response_timeout is None else max(1, seconds_to_ms(response_timeout, "response_timeout")),
                )
            )
        )
        return comp.perform_rpc.payload

    def register_rpc_method(self, method: str, handler: Optional[RpcHandler] = None) -> Any:
        """Registers an RPC handler; usable as a decorator::

            @room.local_participant.register_rpc_method("greet")
            async def greet(data: RpcInvocationData) -> str:
                return f"hello {data.caller_identity}"

        The handler may be sync or async and returns the response payload (str). Raising
        :class:`RpcError` answers with that error; any other exception answers
        ``APPLICATION_ERROR`` (1500). Registering before ``connect`` is allowed (and
        recommended: no early invocation is missed).

        Raises:
            AlreadyExistsError: ``method`` already has a handler.
        """
        return self._session.register_rpc(method, handler)

    def unregister_rpc_method(self, method: str) -> None:
        """Removes an RPC handler (no error if none is registered)."""
        self._session.unregister_rpc(method)

    # -- data streams --------------------------------------------------------------------------

    async def send_text(
        self,
        text: str,
        *,
        topic: str = "",
        attributes: Optional[Mapping[str, str]] = None,
        destination_identities: Sequence[str] = (),
        stream_id: str = "",
        reply_to_id: str = "",
        attached_stream_ids: Sequence[str] = (),
        generated: bool = False,
        sender_identity: str = "",
    ) -> TextStreamInfo:
        """Sends a whole text stream; returns its info once sent.

        ``sender_identity`` (an agent only) sends the text on behalf of another participant, e.g.
        the user whose speech it transcribes: the server keeps that identity and marks the text
        generated, and the receivers see that participant as the sender. "" means this one.

        Raises:
            NotAllowedError: ``sender_identity`` names another participant and this one is not
                an agent.
            InvalidArgumentError: ``sender_identity`` names another participant in an end-to-end
                encrypted room (the server stamps the sender on an encrypted packet).
        """
        opts = _text_options(
            topic,
            attributes,
            destination_identities,
            stream_id,
            None,
            reply_to_id,
            attached_stream_ids,
            generated,
            sender_identity,
        )
        comp = await self._session.request_async(
            pb.Request(send_text=pb.SendTextRequest(room_handle=self._session.require_handle(), text=text, options=opts))
        )
        return TextStreamInfo._from_proto(comp.send_text)

    async def send_bytes(
        self,
        data: bytes,
        *,
        name: str = "",
        mime_type: str = "",
        topic: str = "",
        attributes: Optional[Mapping[str, str]] = None,
        destination_identities: Sequence[str] = (),
        stream_id: str = "",
    ) -> ByteStreamInfo:
        """Sends a whole byte stream; returns its info once sent.

        Raises:
            TypeError: ``data`` is not bytes-like (bytes, bytearray, memoryview).
        """
        opts = _byte_options(topic, attributes, destination_identities, stream_id, None, name, mime_type)
        comp = await self._session.request_async(
            pb.Request(
                send_bytes=pb.SendBytesRequest(room_handle=self._session.require_handle(), data=bytes_arg(data, "data"), options=opts)
            )
        )
        return ByteStreamInfo._from_proto(comp.send_bytes)

    async def send_file(
        self,
        file_path: Union[str, "os.PathLike[str]"],
        *,
        name: str = "",
        mime_type: str = "",
        topic: str = "",
        attributes: Optional[Mapping[str, str]] = None,
        destination_identities: Sequence[str] = (),
        stream_id: str = "",
    ) -> ByteStreamInfo:
        """Streams a local file (read by the library); name and length default to the file's.

        Raises:
            IoError: the file cannot be read.
        """
        opts = _byte_options(topic, attributes, destination_identities, stream_id, None, name, mime_type)
        comp = await self._session.request_async(
            pb.Request(
                send_file=pb.SendFileRequest(
                    room_handle=self._session.require_handle(), path=os.fspath(os.path.abspath(file_path)), options=opts
                )
            )
        )
        return ByteStreamInfo._from_proto(comp.send_file)

    async def stream_text(
        self,
        *,
        topic: str = "",
        attributes: Optional[Mapping[str, str]] = None,
        destination_identities: Sequence[str] = (),
        stream_id: str = "",
        total_size: Optional[int] = None,
        reply_to_id: str = "",
        attached_stream_ids: Sequence[str] = (),
        generated: bool = False,
        sender_identity: str = "",
    ) -> TextStreamWriter:
        """Opens an incremental text stream; write to it and close it (or use ``async with``).

        ``sender_identity``: as for ``send_text`` (same errors).
        """
        opts = _text_options(
            topic,
            attributes,
            destination_identities,
            stream_id,
            total_size,
            reply_to_id,
            attached_stream_ids,
            generated,
            sender_identity,
        )
        w = await self._session.open_writer(
            pb.Request(open_text_writer=pb.OpenTextWriterRequest(room_handle=self._session.require_handle(), options=opts))
        )
        return cast(TextStreamWriter, w)

    async def stream_bytes(
        self,
        name: str = "",
        *,
        mime_type: str = "",
        topic: str = "",
        attributes: Optional[Mapping[str, str]] = None,
        destination_identities: Sequence[str] = (),
        stream_id: str = "",
        total_size: Optional[int] = None,
    ) -> ByteStreamWriter:
        """Opens an incremental byte stream; write to it and close it (or use ``async with``)."""
        opts = _byte_options(topic, attributes, destination_identities, stream_id, total_size, name, mime_type)
        w = await self._session.open_writer(
            pb.Request(open_byte_writer=pb.OpenByteWriterRequest(room_handle=self._session.require_handle(), options=opts))
        )
        return cast(ByteStreamWriter, w)
