// Talking to the experiment server without losing a response.
//
// Every response gets a client-made id and is kept in localStorage until the server acknowledges
// it (the server commits it to SQLite before it answers, and a repeated id is a no-op there). A
// network error or a 5xx is retried with exponential backoff while a "connection lost, retrying"
// banner covers the page; a 4xx is a refusal and is shown, never retried. A reload re-sends what
// was left unacknowledged before asking the server where to continue.

const BACKOFF_START_MS = 250;
const BACKOFF_MAX_MS = 8000;

/** A 4xx answer: the server refused the request and says why. Not retried. */
export class RefusedError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "RefusedError";
    this.status = status;
  }
}

/** A random UUID, also where crypto.randomUUID is missing (pages served over plain http). */
export function makeUuid() {
  if (window.crypto && typeof window.crypto.randomUUID === "function" && window.isSecureContext) {
    return window.crypto.randomUUID();
  }
  const b = window.crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** localStorage that degrades to memory when storage is blocked (private windows, iframes). */
export const storage = {
  memory: new Map(),
  get(key) {
    try {
      const v = window.localStorage.getItem(key);
      return v === null ? this.memory.get(key) ?? null : v;
    } catch (e) {
      return this.memory.get(key) ?? null;
    }
  },
  set(key, value) {
    this.memory.set(key, value);
    try {
      window.localStorage.setItem(key, value);
    } catch (e) {
      /* memory copy only */
    }
  },
  remove(key) {
    this.memory.delete(key);
    try {
      window.localStorage.removeItem(key);
    } catch (e) {
      /* memory copy only */
    }
  },
};

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One POST of a JSON body; resolves to the parsed answer, throws RefusedError on 4xx and a
 * plain Error (retryable) on network errors, 5xx and unreadable answers. */
export async function postJson(path, body) {
  let answer;
  try {
    answer = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      cache: "no-store",
      credentials: "same-origin",
    });
  } catch (e) {
    throw new Error(`network error: ${e && e.message ? e.message : e}`);
  }
  let payload = null;
  try {
    payload = await answer.json();
  } catch (e) {
    payload = null;
  }
  if (answer.status >= 400 && answer.status < 500) {
    const why = payload && typeof payload.error === "string" ? payload.error : `HTTP ${answer.status}`;
    throw new RefusedError(answer.status, why);
  }
  if (!answer.ok || payload === null) {
    throw new Error(`server answered HTTP ${answer.status}`);
  }
  return payload;
}

/** The banner that covers the page while the server cannot be reached. */
export class ConnectionBanner {
  constructor(element) {
    this.element = element;
    this.waiting = 0;
  }

  show(attempt, delayMs) {
    this.waiting += 1;
    const seconds = Math.max(1, Math.round(delayMs / 1000));
    this.element.querySelector(".rp-connection-detail").textContent =
      `Attempt ${attempt} failed; trying again in ${seconds} s. ` +
      "Your answers are kept: please keep this page open.";
    this.element.hidden = false;
    document.body.classList.add("rp-offline");
  }

  hide() {
    this.element.hidden = true;
    document.body.classList.remove("rp-offline");
  }
}

/** POST until the server answers (not a 4xx): backoff 250 ms doubling to 8 s, banner shown
 * from the first failure until success. */
export async function postUntilAnswered(path, body, banner) {
  let delay = BACKOFF_START_MS;
  for (let attempt = 1; ; attempt += 1) {
    try {
      const payload = await postJson(path, body);
      banner.hide();
      return payload;
    } catch (e) {
      if (e instanceof RefusedError) {
        banner.hide();
        throw e;
      }
      banner.show(attempt, delay);
      await sleep(delay);
      delay = Math.min(delay * 2, BACKOFF_MAX_MS);
    }
  }
}

/** The participant's unacknowledged responses, kept across reloads, sent in order. */
export class Outbox {
  constructor(participantId, banner, endpoint = "api/response") {
    // one outbox per experiment address and participant (storage is shared by a whole origin)
    this.key = `repalign-outbox:${window.location.pathname}:${participantId}`;
    this.banner = banner;
    this.endpoint = endpoint;
    this.queue = JSON.parse(storage.get(this.key) || "[]");
    this.running = null;
    this.lastAnswer = null;
  }

  get pending() {
    return this.queue.length;
  }

  save() {
    if (this.queue.length) storage.set(this.key, JSON.stringify(this.queue));
    else storage.remove(this.key);
  }

  /** Keep a response (stored at once) and start sending it. */
  add(body) {
    this.queue.push(body);
    this.save();
    return this.flush();
  }

  /** Send everything queued; resolves when the queue is empty (all acknowledged). */
  flush() {
    if (!this.running) {
      this.running = this.drain().finally(() => {
        this.running = null;
      });
    }
    return this.running;
  }

  async drain() {
    while (this.queue.length) {
      let answer;
      try {
        answer = await postUntilAnswered(this.endpoint, this.queue[0], this.banner);
      } catch (e) {
        // refused (4xx): the server stored nothing and never will; the page shows why
        this.queue.shift();
        this.save();
        throw e;
      }
      if (answer.ack !== true) throw new RefusedError(200, "the server did not acknowledge the response");
      this.lastAnswer = answer;
      this.queue.shift();
      this.save();
    }
  }
}
