// Turnix signaling demo: the script of index.html, sender.html and receiver.html.
//
// Both peers fetch ICE servers from POST /ice, join a room over the /ws WebSocket
// and exchange offer, answer and ICE candidates through it. The sender opens a
// data channel and sends a message; the receiver shows it.
//
// The state is visible to people and to test drivers alike:
//   document.title     "waiting for receiver", "connecting", "connected relay/relay",
//                      "message: hello" (receiver), or "error: ..." (final)
//   window.turnixDemo  {status, pair, message, sent, error, candidates, candidateErrors}
//   #status #pair #message #error   the same, in the page
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  const role = document.body.dataset.role;

  if (role === "index") {
    const room = "room-" + Math.random().toString(36).slice(2, 10);
    for (const id of ["sender", "receiver"]) {
      document.getElementById(id).href = `${id}.html?room=${room}`;
    }
    return;
  }

  const room = params.get("room") || "demo";
  const relay = params.get("relay") !== "0";
  const ttl = params.has("ttl") ? Number(params.get("ttl")) : undefined;
  const waitSeconds = Number(params.get("wait") || 0);
  const text = params.get("message") || "hello";

  const state = {
    role, room, relay,
    status: "starting",
    pair: null,          // "relay/relay": candidate types of the selected pair
    message: null,       // receiver: the message received
    sent: null,          // sender: the message sent
    error: null,
    candidates: { host: 0, srflx: 0, prflx: 0, relay: 0 },  // local, gathered
    candidateErrors: [], // icecandidateerror events: {url, errorCode, errorText}
  };
  window.turnixDemo = state;

  const $ = (id) => document.getElementById(id);
  $("room").textContent = room;
  $("other").href = `${role === "sender" ? "receiver" : "sender"}.html${location.search}`;

  function log(line) {
    const time = new Date().toISOString().slice(11, 23);
    $("log").textContent += `${time} ${line}\n`;
  }

  function show(status) {
    if (state.error) return;  // an error is final
    state.status = status;
    document.title = status;
    $("status").textContent = status;
    log(status);
  }

  function fail(message) {
    if (state.error) return;
    show("error: " + message);
    state.error = message;
    $("error").textContent = message;
    closePeer();
  }

  // -- ICE servers ------------------------------------------------------------------

  let prefetched = null;

  async function fetchIce() {
    const body = { room };
    if (ttl !== undefined) body.ttl = ttl;
    const response = await fetch("/ice", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const retry = response.headers.get("Retry-After");
      throw new Error(`/ice answered ${response.status}: ${data.error || response.statusText}` +
                      (retry ? ` (retry after ${retry} s)` : ""));
    }
    return data;  // {"iceServers": [...]}: an RTCConfiguration
  }

  async function configuration() {
    // The first call uses the credentials fetched at load; later calls fetch fresh ones.
    const config = prefetched || await fetchIce();
    prefetched = null;
    if (waitSeconds > 0) {
      show(`waiting ${waitSeconds} s before using the credentials`);
      await new Promise((resolve) => setTimeout(resolve, waitSeconds * 1000));
    }
    return { ...config, iceTransportPolicy: relay ? "relay" : "all" };
  }

  // -- signaling --------------------------------------------------------------------

  let ws = null;
  let inbox = Promise.resolve();

  function send(message) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  function connectSignaling() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    ws = new WebSocket(`${scheme}://${location.host}/ws?room=${encodeURIComponent(room)}`);
    // One message at a time, in order: an answer is applied before its candidates.
    ws.onmessage = (event) => {
      inbox = inbox
        .then(() => handle(JSON.parse(event.data)))
        .catch((error) => fail(error.message || String(error)));
    };
    ws.onclose = (event) => {
      if (event.code === 4409) fail(`room ${room} is full`);
      else if (!state.pair) fail(`signaling closed (${event.code} ${event.reason})`);
    };
  }

  async function handle(message) {
    switch (message.type) {
      case "welcome":
        log(`joined room ${room} as ${message.id}`);
        if (role === "sender" && message.peers.length > 0) await call();
        else show(`waiting for ${role === "sender" ? "receiver" : "sender"}`);
        break;
      case "joined":
        log(`peer ${message.id} joined`);
        if (role === "sender") await call();
        break;
      case "left":
        log(`peer ${message.id} left`);
        closePeer();
        show(`waiting for ${role === "sender" ? "receiver" : "sender"}`);
        break;
      case "offer":
        if (role === "receiver") await answer(message);
        break;
      case "answer":
        if (role === "sender" && pc) {
          await pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
          await flushCandidates();
        }
        break;
      case "candidate":
        pendingCandidates.push(message.candidate);
        await flushCandidates();
        break;
      case "error":
        log(`signaling error: ${message.error}`);
        break;
    }
  }

  // -- the peer connection ----------------------------------------------------------

  let pc = null;
  let pendingCandidates = [];

  function closePeer() {
    if (pc) pc.close();
    pc = null;
    pendingCandidates = [];
  }

  async function flushCandidates() {
    if (!pc || !pc.remoteDescription) return;  // added once the description is set
    const candidates = pendingCandidates;
    pendingCandidates = [];
    for (const candidate of candidates) await pc.addIceCandidate(candidate);
  }

  async function newPeer() {
    closePeer();
    const config = await configuration();
    const peer = new RTCPeerConnection(config);
    pc = peer;
    state.candidates = { host: 0, srflx: 0, prflx: 0, relay: 0 };
    show("connecting");

    peer.onicecandidate = (event) => {
      if (peer !== pc) return;
      if (event.candidate) {
        const type = event.candidate.type || (/ typ (\w+)/.exec(event.candidate.candidate) || [])[1];
        if (type in state.candidates) state.candidates[type] += 1;
        log(`local candidate: ${type} ${event.candidate.address || ""}`);
        send({ type: "candidate", candidate: event.candidate.toJSON() });
      } else {
        gatheringComplete();
      }
    };
    peer.onicecandidateerror = (event) => {
      const error = { url: event.url, errorCode: event.errorCode, errorText: event.errorText };
      state.candidateErrors.push(error);
      log(`candidate error: ${error.errorCode} ${error.errorText} (${error.url})`);
      if (event.errorCode === 401 || event.errorCode === 403) {
        fail(`TURN refused the credentials: ${event.errorCode} ${event.errorText} (${event.url})`);
      }
    };
    peer.onconnectionstatechange = () => {
      if (peer !== pc) return;
      log(`connection: ${peer.connectionState}`);
      if (peer.connectionState === "connected") connected(peer);
      else if (peer.connectionState === "failed") fail("the connection failed (ICE or DTLS)");
    };
    return peer;
  }

  function gatheringComplete() {
    const count = state.candidates;
    log(`gathering complete: ${JSON.stringify(count)}`);
    const usable = relay ? count.relay : count.host + count.srflx + count.relay;
    if (usable === 0) {
      fail(relay
        ? "no relay candidate: the TURN server refused the credentials (expired?) or is unreachable"
        : "no ICE candidate gathered");
    }
  }

  async function connected(peer) {
    const pair = await selectedPair(peer);
    if (peer !== pc) return;
    state.pair = pair;
    $("pair").textContent = pair || "unknown";
    show(`connected ${pair || "(pair unknown)"}`);
    if (role === "receiver" && state.message !== null) show(`message: ${state.message}`);
  }

  // The candidate types of the selected pair, as "local/remote", from getStats().
  async function selectedPair(peer) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const stats = await peer.getStats();
      let pair = null;
      stats.forEach((report) => {
        if (report.type === "transport" && report.selectedCandidatePairId) {
          pair = stats.get(report.selectedCandidatePairId);
        }
      });
      if (!pair) {  // Firefox: no transport stats; the selected pair is flagged
        stats.forEach((report) => {
          if (report.type === "candidate-pair" && !pair &&
              (report.selected || (report.nominated && report.state === "succeeded"))) {
            pair = report;
          }
        });
      }
      if (pair) {
        const local = stats.get(pair.localCandidateId);
        const remote = stats.get(pair.remoteCandidateId);
        if (local && remote) return `${local.candidateType}/${remote.candidateType}`;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return null;
  }

  // -- the two roles ------------------------------------------------------------------

  async function call() {  // sender
    const peer = await newPeer();
    const channel = peer.createDataChannel("chat");
    channel.onopen = () => {
      channel.send(text);
      state.sent = text;
      $("message").textContent = `sent: ${text}`;
      log(`sent: ${text}`);
    };
    await peer.setLocalDescription(await peer.createOffer());
    send({ type: "offer", sdp: peer.localDescription.sdp });
  }

  async function answer(offer) {  // receiver
    const peer = await newPeer();
    peer.ondatachannel = (event) => {
      event.channel.onmessage = (message) => {
        state.message = String(message.data);
        $("message").textContent = state.message;
        show(`message: ${state.message}`);
      };
    };
    await peer.setRemoteDescription({ type: "offer", sdp: offer.sdp });
    await flushCandidates();
    await peer.setLocalDescription(await peer.createAnswer());
    send({ type: "answer", sdp: peer.localDescription.sdp });
  }

  addEventListener("pagehide", () => {
    closePeer();
    if (ws) ws.close();
  });

  (async () => {
    show("fetching ICE servers");
    try {
      prefetched = await fetchIce();
    } catch (error) {
      fail(error.message || String(error));
      return;
    }
    log(`ICE servers: ${prefetched.iceServers.map((s) => [].concat(s.urls).join(" ")).join(", ")}`);
    connectSignaling();
  })();
})();
