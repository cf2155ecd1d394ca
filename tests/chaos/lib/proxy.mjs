// proxy.mjs: a TCP proxy between the services and PostgreSQL that the harness can cut.
//
// Cutting the network to PostgreSQL for real (iptables, tc, network namespaces) needs
// root-only tricks; this proxy gives the same picture to the services without them.
// cut() stops moving bytes in both directions on every connection and holds new ones
// (accepted, never forwarded): what a service sees of a partition where packets are
// dropped — its queries hang, nothing is refused. heal() resumes everything where it
// stopped, as TCP retransmission does once the network is back. Nothing is closed by
// the proxy itself, so a service that wants to notice a cut must have its own timeout.
import net from 'node:net';

export class PgProxy {
  constructor(targetHost, targetPort) {
    this.target = { host: targetHost, port: targetPort };
    this.isCut = false;
    this.pairs = new Set(); // {client, upstream}
    this.held = []; // client sockets accepted during a cut
    this.server = net.createServer((client) => this._accept(client));
  }

  listen(port, host = '127.0.0.1') {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host }, () => {
        this.port = this.server.address().port;
        resolve(this.port);
      });
    });
  }

  _accept(client) {
    client.on('error', () => {});
    if (this.isCut) {
      client.pause();
      this.held.push(client);
      return;
    }
    this._connect(client);
  }

  _connect(client) {
    const upstream = net.connect(this.target);
    const pair = { client, upstream };
    this.pairs.add(pair);
    upstream.on('error', () => {});
    const forward = (src, dst) => {
      src.on('data', (d) => {
        if (!dst.write(d)) src.pause();
      });
      dst.on('drain', () => {
        if (!this.isCut) src.resume();
      });
    };
    forward(client, upstream);
    forward(upstream, client);
    const done = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', done);
    upstream.on('close', done);
    if (this.isCut) this._pausePair(pair);
  }

  _pausePair({ client, upstream }) {
    client.pause();
    upstream.pause();
  }

  cut() {
    this.isCut = true;
    for (const p of this.pairs) this._pausePair(p);
  }

  heal() {
    this.isCut = false;
    for (const { client, upstream } of this.pairs) {
      client.resume();
      upstream.resume();
    }
    const held = this.held.splice(0);
    for (const c of held) {
      if (c.destroyed) continue;
      this._connect(c);
      c.resume();
    }
  }

  close() {
    this.heal();
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    return new Promise((r) => this.server.close(() => r()));
  }
}
