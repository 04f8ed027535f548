// The browser side of tests/interop/test_js.py: livekit-client (the official JS SDK, pinned in
// package.json) behind a small API on `window.lkjs`, which the Python tests call through
// Playwright. Binary data crosses as base64 strings; what the room receives is kept in arrays the
// tests poll. Bundled by tests/suites/interop.sh with esbuild.
import { Room, RoomEvent, RpcError } from "livekit-client";

const b64 = (bytes) => {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
};
const unb64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

const st = { room: null, state: "new", data: [], texts: [], bytes: [], frames: [], tracks: new Map(), unpublished: [], local: new Map() };

window.lkjs = {
  async connect(url, token) {
    const room = new Room();
    st.room = room;
    room.on(RoomEvent.DataReceived, (payload, participant, kind, topic) => {
      st.data.push({ from: participant ? participant.identity : null, topic, data: b64(payload) });
    });
    room.on(RoomEvent.DataTrackPublished, (track) => st.tracks.set(`${track.publisherIdentity}/${track.info.name}`, track));
    room.on(RoomEvent.DataTrackUnpublished, (sid) => st.unpublished.push(sid));
    room.on(RoomEvent.Reconnecting, () => { st.state = "reconnecting"; });
    room.on(RoomEvent.Reconnected, () => { st.state = "reconnected"; });
    room.registerTextStreamHandler("chat", async (reader, from) => {
      const text = await reader.readAll();
      st.texts.push({ from: from.identity, id: reader.info.id, attributes: reader.info.attributes, text });
    });
    room.registerByteStreamHandler("files", async (reader, from) => {
      const chunks = await reader.readAll();
      const n = chunks.reduce((a, c) => a + c.length, 0);
      const all = new Uint8Array(n);
      let o = 0;
      for (const c of chunks) { all.set(c, o); o += c.length; }
      st.bytes.push({ from: from.identity, id: reader.info.id, name: reader.info.name, data: b64(all) });
    });
    room.registerRpcMethod("echo", async (d) => [...d.payload].reverse().join(""));
    room.registerRpcMethod("fail", async (d) => { throw new RpcError(4003, "js says no", "details: " + d.payload); });
    await room.connect(url, token);
    return room.localParticipant.sid;
  },
  remotes: () => Array.from(st.room.remoteParticipants.keys()),
  // "new", then "reconnecting" / "reconnected" after a connection loss.
  state: () => st.state,
  received: () => ({ data: st.data, texts: st.texts, bytes: st.bytes, unpublished: st.unpublished }),
  async publishData(data, topic, destinations) {
    await st.room.localParticipant.publishData(unb64(data), { reliable: true, topic, destinationIdentities: destinations });
  },
  async rpc(destination, method, payload) {
    try {
      return { payload: await st.room.localParticipant.performRpc({ destinationIdentity: destination, method, payload, responseTimeout: 20000 }) };
    } catch (e) {
      return { code: e.code, message: e.message, data: e.data };
    }
  },
  async sendText(text, destinations) {
    const info = await st.room.localParticipant.sendText(text, { topic: "chat", destinationIdentities: destinations, attributes: { k: "v" } });
    return info.id;
  },
  async sendBytes(data, destinations) {
    const info = await st.room.localParticipant.sendBytes(unb64(data), { topic: "files", name: "c.bin", destinationIdentities: destinations });
    return info.id;
  },
  async publishTrack(name) {
    const t = await st.room.localParticipant.publishDataTrack({ name });
    st.local.set(name, t);
    return t.info.sid;
  },
  // Resolves true when the track took the frame, false when it dropped it.
  async push(name, data, ts) {
    try {
      await st.local.get(name).tryPush({ payload: unb64(data), userTimestamp: BigInt(ts) });
      return true;
    } catch (e) {
      return false;
    }
  },
  async unpublishTrack(name) { await st.local.get(name).unpublish(); },
  // Subscribes to publisher/name once announced; its frames go to `frames` as
  // {data, ts}. Returns the track's sid, or null when it is not announced yet.
  subscribe(publisher, name) {
    const track = st.tracks.get(`${publisher}/${name}`);
    if (!track) return null;
    const reader = track.subscribe().getReader();
    (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) { st.frames.push({ end: true }); return; }
        st.frames.push({ data: b64(value.payload), ts: value.userTimestamp === undefined ? null : Number(value.userTimestamp) });
      }
    })();
    return track.info.sid;
  },
  takeFrames() { const f = st.frames; st.frames = []; return f; },
  async disconnect() { if (st.room) await st.room.disconnect(); },
};
