"""End-to-end encryption state of a room: ``room.e2ee_manager``.

::

    room = Room(RoomOptions(e2ee=E2EEOptions(shared_key=b"passphrase")))
    await room.connect(url, token)
    room.e2ee_manager.enabled                            # True
    room.e2ee_manager.key_provider.set_shared_key(b"next", key_index=1)   # key rotation
    room.e2ee_manager.stats()                            # E2EEStats(enabled, decryption_failures, ...)
    room.e2ee_manager.encryption_state("alice")          # alice's state, e.g. DECRYPTION_FAILED

The library keeps each remote participant's state: after a failure ``MISSING_KEY`` or
``DECRYPTION_FAILED``, ``OK`` once its data decrypts again; a participant leaves with its state.
Every failure and every return to ``OK`` is also reported as an ``e2ee_state_changed`` event
(``(participant_identity, EncryptionState)``); what cannot be decrypted is dropped, never
delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, Mapping, Optional

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
        encryption_states: the state of every remote participant whose data failed to
            decrypt since it joined, by identity (``OK`` once it decrypts again; a participant
            that left is not listed, nor one with nothing failed). Read-only.
    """

    enabled: bool = False
    decryption_failures: int = 0
    events_suppressed: int = 0
    encryption_states: "Mapping[str, EncryptionState]" = field(default_factory=dict, hash=False)


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
        """A remote participant's encryption state, as the library holds it now:
        ``DECRYPTION_FAILED`` or ``MISSING_KEY`` after a failure, ``OK`` once its data decrypts
        again, ``UNSPECIFIED`` when nothing of it failed (or it left, or the room is not
        connected yet). It can be ahead of ``e2ee_state_changed`` events not delivered yet."""
        from .room import EncryptionState

        return self.stats().encryption_states.get(participant_identity, EncryptionState.UNSPECIFIED)

    @property
    def encryption_states(self) -> "Dict[str, EncryptionState]":
        """Every remote participant's state whose data failed to decrypt since it joined, by
        identity (a new dict each time; see :meth:`encryption_state`). A participant's state
        goes when it leaves, also one the room was never told about."""
        return dict(self.stats().encryption_states)
