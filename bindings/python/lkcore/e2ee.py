"""End-to-end encryption state of a room: ``room.e2ee_manager``.

::

    room = Room(RoomOptions(e2ee=E2EEOptions(shared_key=b"passphrase")))
    await room.connect(url, token)
    room.e2ee_manager.enabled                            # True
    room.e2ee_manager.key_provider.set_shared_key(b"next", key_index=1)   # key rotation
    room.e2ee_manager.stats()                            # E2EEStats(enabled, decryption_failures, ...)
    room.e2ee_manager.encryption_state("alice")          # last state reported for alice

Decryption failures are also reported as ``e2ee_state_changed`` events
(``(participant_identity, EncryptionState)``); what cannot be decrypted is dropped, never
delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Optional

if TYPE_CHECKING:
    from ._session import RoomSession
    from .room import EncryptionState

__all__ = ["E2EEManager", "E2EEStats", "KeyProvider"]


@dataclass(frozen=True)
class E2EEStats:
    """A room's end-to-end encryption counters (the core's ``Room.E2EEStats``).

    Attributes:
        enabled: the room was created with ``RoomOptions.e2ee``.
        decryption_failures: packets and data-track frames that failed to decrypt (dropped).
        events_suppressed: failures not reported as ``e2ee_state_changed`` because the
            event queue was full.
    """

    enabled: bool = False
    decryption_failures: int = 0
    events_suppressed: int = 0


class KeyProvider:
    """The shared-key provider of an E2EE room (``room.e2ee_manager.key_provider``)."""

    def __init__(self, session: "RoomSession") -> None:
        self._session = session

    def set_shared_key(self, key: bytes, key_index: int = 0) -> None:
        """Replaces the shared key at ``key_index`` (0..255; key rotation).

        Raises:
            DisconnectedError: the room is not connected.
            InvalidArgumentError: empty key or ``key_index`` beyond the key ring.
            TypeError: ``key`` is not bytes-like (bytes, bytearray, memoryview).
        """
        self._session.set_shared_key(key, key_index)


class E2EEManager:
    """End-to-end encryption state of a room (``room.e2ee_manager``)."""

    def __init__(self, session: "RoomSession") -> None:
        self._session = session
        self._key_provider = KeyProvider(session)

    @property
    def enabled(self) -> bool:
        """True when the room is configured with end-to-end encryption."""
        return self._session.e2ee_enabled

    @property
    def key_provider(self) -> Optional[KeyProvider]:
        """The key provider, or None without E2EE."""
        return self._key_provider if self.enabled else None

    def stats(self) -> E2EEStats:
        """Returns the room's E2EE counters (from the library while the room is connected;
        the final figures after it disconnected; zero before it connected)."""
        return self._session.e2ee_stats()

    def encryption_state(self, participant_identity: str) -> "EncryptionState":
        """The last encryption state reported for a participant (UNSPECIFIED if none: the
        library reports failures, so UNSPECIFIED means nothing failed). It is forgotten when the
        participant leaves — except for one the room was never told about (a participant that
        publishes nothing and leaves within the server's batch of updates is not announced, nor
        is its departure): its entry stays until the room is released."""
        from .room import EncryptionState

        return self._session.e2ee_states.get(participant_identity, EncryptionState.UNSPECIFIED)

    @property
    def encryption_states(self) -> "Dict[str, EncryptionState]":
        """The last state reported per participant identity (a copy; a participant's goes when
        it leaves)."""
        return dict(self._session.e2ee_states)
