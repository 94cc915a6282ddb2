// What every kind of card does alike at a session's end (card.js for files, live.js for live streams):
// the state and message a terminal event brings, and a cancel.

import { FINAL_STATES } from "./stream.js";

/**
 * What `event` does to a card, when it ends the session or refuses the subscription: `{state, message}`
 * (either may be null); null for any other event.
 */
export function ending(event) {
  switch (event.type) {
    case "failed":
      return { state: "failed", message: event.data.message };
    case "succeeded":
    case "cancelled":
    case "expired":
    case "gone":
      return { state: event.type, message: null };
    case "error": // a WebSocket refusal, e.g. not-found
      return { state: event.data.code === "not-found" ? "gone" : null, message: event.data.message };
    default:
      return null;
  }
}

/**
 * Cancel `card`'s session (`card.api`, `card.id`, `card.state`, `card.cancelButton`), through the card's
 * own `setState` and `showError`. The live feed brings the final `cancelled`; from the answer, only move
 * forward. A 409 (it had finished already) says nothing.
 */
export async function cancelSession(card, { setState, showError }) {
  card.cancelButton.disabled = true;
  try {
    const doc = await card.api.cancel(card.id);
    if (!FINAL_STATES.has(card.state)) setState(doc.state);
  } catch (error) {
    if (error.status !== 409) showError(`Could not cancel: ${error.message}`);
  }
}
