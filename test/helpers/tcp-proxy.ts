/**
 * A loopback TCP proxy for fault injection (there is no toxiproxy here).
 * - `cut()`: drop every connection and refuse new ones — the dependency "died".
 * - `pause()`: keep every socket open and accept new ones, but move no byte in
 *   either direction — a black hole (a proxy or network path that stops
 *   forwarding, packets dropped rather than refused).
 * - `resume()` / `restore()`: forward normally again on the same port.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  readonly port: number;
  readonly #target: { host: string; port: number };
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #paused = false;

  private constructor(port: number, target: { host: string; port: number }) {
    this.port = port;
    this.#target = target;
  }

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    const probe = createServer();
    const port = await new Promise<number>((resolve) =>
      probe.listen(0, '127.0.0.1', () => resolve((probe.address() as { port: number }).port)),
    );
    await new Promise((r) => probe.close(r));
    const proxy = new TcpProxy(port, { host: targetHost, port: targetPort });
    await proxy.restore();
    return proxy;
  }

  /** Forward normally (listening again if cut). */
  async restore(): Promise<void> {
    this.resume();
    if (this.#server) return;
    const server = createServer((client) => this.#accept(client));
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.#server = server;
  }

  /** Close the listener and destroy every open connection: clients see resets and refusals. */
  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    if (server) await new Promise((r) => server.close(r));
  }

  /** Accept and hold connections but move no bytes, on open and new connections alike. */
  pause(): void {
    this.#paused = true;
    for (const socket of this.#sockets) socket.pause();
  }

  /**
   * Forward again on every open connection. Bytes held meanwhile are then delivered, as TCP
   * retransmission would once the path is back.
   */
  resume(): void {
    this.#paused = false;
    for (const socket of this.#sockets) socket.resume();
  }

  async close(): Promise<void> {
    await this.cut();
  }

  #accept(client: Socket): void {
    const upstream = connect(this.#target.port, this.#target.host);
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        this.#sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
      if (this.#paused) socket.pause();
    }
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => client.write(chunk));
  }
}
