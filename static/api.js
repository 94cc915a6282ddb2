// The REST side of the Vidpulse API: fetch for JSON calls, XMLHttpRequest for uploads
// (fetch cannot report upload progress). See docs/api.md.

/** A refused call, carrying the RFC 9457 problem document the server sent. */
export class ApiError extends Error {
  constructor(status, problem = {}, retryAfter = null) {
    super(problem.detail || problem.title || (status ? `HTTP ${status}` : "The server could not be reached."));
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

export class Api {
  /**
   * @param {object} hooks
   * @param {() => string} hooks.getKey the API key, or "" when none is set
   * @param {(error: ApiError) => void} hooks.onUnauthorized called on every 401
   */
  constructor({ getKey, onUnauthorized }) {
    this.getKey = getKey;
    this.onUnauthorized = onUnauthorized;
  }

  /** Headers for fetch and XHR: the key goes in `Authorization`. */
  authHeaders() {
    const key = this.getKey();
    return key ? { Authorization: `Bearer ${key}` } : {};
  }

  /**
   * A same-origin URL for what cannot set headers (EventSource, WebSocket, <img>, <video>):
   * the key goes in `?access_token=`.
   */
  url(path, params = {}) {
    const url = new URL(path, location.origin);
    for (const [name, value] of Object.entries(params)) {
      if (value != null) url.searchParams.set(name, value);
    }
    const key = this.getKey();
    if (key) url.searchParams.set("access_token", key);
    return url.pathname + url.search;
  }

  /** The WebSocket URL (ws: or wss: to match the page). */
  socketUrl(path) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${this.url(path)}`;
  }

  fileUrl(sessionId, name) {
    return this.url(`/api/sessions/${sessionId}/files/${encodeURIComponent(name)}`);
  }

  /** A JSON call; `body`, when given, is sent as JSON. */
  async request(method, path, body = undefined) {
    const headers = { Accept: "application/json", ...this.authHeaders() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw new ApiError(0);
    }
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      throw this.#refused(new ApiError(response.status, problem, response.headers.get("Retry-After")));
    }
    return response.status === 204 ? null : response.json();
  }

  /** Every session this caller can see, newest first, following `next_cursor`. */
  async *sessions(limit = 50) {
    let cursor = null;
    do {
      const query = new URLSearchParams({ limit: String(limit) });
      if (cursor) query.set("cursor", cursor);
      const page = await this.request("GET", `/api/sessions?${query}`);
      yield* page.items;
      cursor = page.next_cursor;
    } while (cursor);
  }

  session(id) {
    return this.request("GET", `/api/sessions/${id}`);
  }

  results(id) {
    return this.request("GET", `/api/sessions/${id}/results`);
  }

  cancel(id) {
    return this.request("POST", `/api/sessions/${id}/cancel`);
  }

  /** Follow a live source (an HLS playlist, rtmp://, rtsp://): a session of kind `live`. */
  live(url, options = {}) {
    return this.request("POST", "/api/sessions", { url, live: true, options });
  }

  /** End a live session with the report of what it saw. */
  stop(id) {
    return this.request("POST", `/api/sessions/${id}/stop`);
  }

  /** A new attempt of a finished session on its stored source; `options` (optional) replace the last run's. */
  retry(id, options = null) {
    return this.request("POST", `/api/sessions/${id}/retry`, options ? { options } : undefined);
  }

  remove(id) {
    return this.request("DELETE", `/api/sessions/${id}`);
  }

  /**
   * Upload one video with XMLHttpRequest so that progress reports the bytes really sent.
   * Resolves with the session document (202); rejects with an ApiError, or an AbortError
   * when `signal` aborts.
   */
  upload(file, options, { onProgress, signal } = {}) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/sessions");
      xhr.responseType = "json";
      for (const [name, value] of Object.entries(this.authHeaders())) xhr.setRequestHeader(name, value);
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) onProgress?.(e.loaded, e.total);
      });
      xhr.addEventListener("load", () => {
        if (xhr.status === 202) resolve(xhr.response);
        else reject(this.#refused(new ApiError(xhr.status, xhr.response || {}, xhr.getResponseHeader("Retry-After"))));
      });
      xhr.addEventListener("error", () => reject(new ApiError(0)));
      xhr.addEventListener("abort", () => reject(new DOMException("The upload was cancelled.", "AbortError")));
      signal?.addEventListener("abort", () => xhr.abort(), { once: true });

      const form = new FormData();
      form.append("file", file, file.name);
      if (options && Object.keys(options).length) form.append("options", JSON.stringify(options));
      xhr.send(form);
    });
  }

  #refused(error) {
    if (error.status === 401) this.onUnauthorized(error);
    return error;
  }
}
