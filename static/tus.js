// A small tus 1.0.0 client (creation, resume, termination) for the demo page; see docs/api.md.
// A dropped connection is retried with growing delays, asking the server for its offset (HEAD) each
// time, so the upload goes on from what the server kept. The upload's URL is remembered in
// localStorage under the file's name, size and modification time: picking the same file again, even
// after a reload, resumes it instead of starting over.

import { ApiError } from "./api.js";

const TUS = { "Tus-Resumable": "1.0.0" };
const CHUNK_BYTES = 8 * 1024 * 1024;
// Delays before each retry after a failure, in ms; any progress starts the list again.
const RETRY_DELAYS = [0, 500, 1000, 2000, 4000, 8000, 15000];
const STORE_PREFIX = "vidpulse.tus.";

/** The localStorage key of a file's upload URL. */
export function fingerprint(file) {
  return `${STORE_PREFIX}${file.name}:${file.size}:${file.lastModified}`;
}

function base64(text) {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

function metadata(values) {
  return Object.entries(values).map(([key, value]) => `${key} ${base64(value)}`).join(",");
}

/** Thrown for answers a retry cannot fix: the ApiError of the problem document. */
class Refused extends Error {
  constructor(error) {
    super(error.message);
    this.error = error;
  }
}

export class TusUpload {
  /**
   * @param {File} file
   * @param {object} opts
   * @param {import("./api.js").Api} opts.api for the auth headers and the 401 hook
   * @param {object} [opts.options] the analysis options
   * @param {(sent: number, total: number) => void} [opts.onProgress]
   * @param {(sessionId: string) => void} [opts.onSession] as soon as the upload (= the session) exists
   * @param {AbortSignal} [opts.signal]
   */
  constructor(file, { api, options, onProgress, onSession, signal, endpoint = "/api/uploads" }) {
    Object.assign(this, { file, api, options, onProgress, onSession, signal, endpoint });
    this.url = null;
    this.offset = 0;
  }

  /** Resolves with the session id once every byte is in; rejects with an ApiError or an AbortError. */
  async start() {
    let attempt = 0;
    for (;;) {
      try {
        if (!this.url) await this.#resumeOrCreate();
        await this.#send();
        localStorage.removeItem(fingerprint(this.file));
        return this.#sessionId();
      } catch (error) {
        if (this.signal?.aborted) throw new DOMException("The upload was cancelled.", "AbortError");
        if (error instanceof Refused) {
          if (error.error.status !== 401) localStorage.removeItem(fingerprint(this.file));
          throw error.error;
        }
        if (this.progressed) attempt = 0;
        this.progressed = false;
        if (attempt >= RETRY_DELAYS.length) throw error instanceof ApiError ? error : new ApiError(0);
        await this.#sleep(RETRY_DELAYS[attempt++]);
        if (this.url) await this.#head().catch(() => {}); // where to go on from, if the server answers
      }
    }
  }

  /** Termination: the upload and its session are removed. */
  async terminate() {
    localStorage.removeItem(fingerprint(this.file));
    if (this.url) await this.#request("DELETE", this.url).catch(() => {});
  }

  #sessionId() {
    return this.url.split("/").pop();
  }

  async #resumeOrCreate() {
    const stored = localStorage.getItem(fingerprint(this.file));
    if (stored) {
      this.url = stored;
      try {
        await this.#head();
        this.onSession?.(this.#sessionId());
        return;
      } catch (error) {
        if (!(error instanceof Refused)) throw error;
        // Expired, deleted, or another key's: start a new one.
        localStorage.removeItem(fingerprint(this.file));
        this.url = null;
      }
    }
    const meta = { filename: this.file.name };
    if (this.options && Object.keys(this.options).length) meta.options = JSON.stringify(this.options);
    const response = await this.#request("POST", this.endpoint, {
      "Upload-Length": String(this.file.size), "Upload-Metadata": metadata(meta),
    });
    this.url = new URL(response.getResponseHeader("Location"), location.href).pathname;
    this.offset = 0;
    localStorage.setItem(fingerprint(this.file), this.url);
    this.onSession?.(this.#sessionId());
  }

  async #head() {
    const response = await this.#request("HEAD", this.url);
    this.offset = Number(response.getResponseHeader("Upload-Offset"));
    this.onProgress?.(this.offset, this.file.size);
  }

  async #send() {
    while (this.offset < this.file.size) {
      const start = this.offset;
      const chunk = this.file.slice(start, Math.min(this.file.size, start + CHUNK_BYTES));
      const response = await this.#request("PATCH", this.url, {
        "Upload-Offset": String(start), "Content-Type": "application/offset+octet-stream",
      }, chunk, (loaded) => this.onProgress?.(start + loaded, this.file.size));
      this.offset = Number(response.getResponseHeader("Upload-Offset"));
      this.progressed = this.offset > start;
      this.onProgress?.(this.offset, this.file.size);
    }
  }

  /** One request with XMLHttpRequest (fetch cannot report upload progress). Network failures,
   *  5xx, 409 (offsets differ), 423 (locked) and 429 reject with an ApiError to retry; other refusals
   *  reject with Refused. */
  #request(method, url, headers = {}, body = null, onSent = null) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.responseType = "json";
      for (const [name, value] of Object.entries({ ...TUS, ...this.api.authHeaders(), ...headers })) {
        xhr.setRequestHeader(name, value);
      }
      if (onSent) {
        xhr.upload.addEventListener("progress", (e) => {
          if (e.loaded > 0) this.progressed = true;
          onSent(e.loaded);
        });
      }
      const abort = () => xhr.abort();
      this.signal?.addEventListener("abort", abort, { once: true });
      const settle = () => this.signal?.removeEventListener("abort", abort);
      xhr.addEventListener("load", () => {
        settle();
        if (xhr.status >= 200 && xhr.status < 300) {
          resolve(xhr);
          return;
        }
        const error = new ApiError(xhr.status, xhr.response || {}, xhr.getResponseHeader("Retry-After"));
        if (xhr.status === 401) this.api.onUnauthorized(error);
        const retry = xhr.status >= 500 || [409, 423, 429].includes(xhr.status);
        reject(retry ? error : new Refused(error));
      });
      xhr.addEventListener("error", () => {
        settle();
        reject(new ApiError(0));
      });
      xhr.addEventListener("abort", () => {
        settle();
        reject(new DOMException("The upload was cancelled.", "AbortError"));
      });
      xhr.send(body);
    });
  }

  #sleep(ms) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      this.signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(new DOMException("The upload was cancelled.", "AbortError"));
      }, { once: true });
    });
  }
}
