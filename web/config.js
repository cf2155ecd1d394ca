// Deployment settings of the demo page. Edit this file (or mount your own over it);
// nothing else needs changing.
//
// iceServers: WebRTC STUN/TURN servers. Empty works when both browsers reach each other
// directly (two tabs on one machine, one LAN). Across the Internet add a STUN server and,
// for clients behind strict NATs, a TURN server, e.g.
//   [{ urls: 'stun:stun.example.org:3478' },
//    { urls: 'turn:turn.example.org:3478', username: 'u', credential: 'p' }]
window.PARLEY_CONFIG = {
  iceServers: [],
  // WebSocket path of the gateway (same origin as the page).
  wsPath: '/ws',
};
