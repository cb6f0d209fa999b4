/**
 * Sends the operations of one event-loop turn together, when the turn ends
 * (setImmediate): the budgets or session reads of every request an instance
 * handles in a turn leave as one Redis call instead of one each — one command
 * to build, time out and parse, one script run, however many users asked.
 *
 * Why waiting for the end of the turn delays nobody: the requests of a turn
 * were read from sockets one poll reported ready; their operations are queued
 * while they are processed, synchronously, and sent right after, before the
 * loop polls again. The call is written at once (the request-path client does
 * not auto-pipeline: infra/redis/client.ts), so Redis runs it after every
 * command issued before the turn ended and before any issued after.
 */

/** Sends `items` in one go; the outcome of item i is `outcomes[i]`. */
export type SendTurn<In, Out> = (items: readonly In[]) => Promise<readonly Out[]>;

interface Waiting<Out> {
  resolve: (outcome: Out) => void;
  reject: (err: unknown) => void;
}

export class PerTurn<In, Out> {
  readonly #send: SendTurn<In, Out>;
  #items: In[] = [];
  #waiting: Waiting<Out>[] = [];
  readonly #flush = () => {
    const items = this.#items;
    const waiting = this.#waiting;
    this.#items = [];
    this.#waiting = [];
    let sent: Promise<readonly Out[]>;
    try {
      sent = this.#send(items);
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(
      (outcomes) => {
        for (let i = 0; i < waiting.length; i++) (waiting[i] as Waiting<Out>).resolve(outcomes[i] as Out);
      },
      (err: unknown) => {
        for (const w of waiting) w.reject(err);
      },
    );
  };

  constructor(send: SendTurn<In, Out>) {
    this.#send = send;
  }

  /** Queues `item` for the end of this turn; settles with its own outcome, or the call's failure. */
  add(item: In): Promise<Out> {
    if (this.#items.length === 0) setImmediate(this.#flush);
    this.#items.push(item);
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }
}
