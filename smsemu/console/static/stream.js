// The live stream of the admin API (GET events, Server-Sent Events).  The
// browser's EventSource reconnects by itself and sends Last-Event-ID, so the
// server resumes after the last event this page saw; a "reset" event says
// some were missed (the page then reloads what it shows).

export function follow({ onEvent, onReset, onState }) {
  const source = new EventSource("events", { withCredentials: true });
  source.onopen = () => onState("live");
  source.onerror = () => onState(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
  source.onmessage = (message) => {
    let event;
    try { event = JSON.parse(message.data); } catch { return; }
    onEvent(event);
  };
  source.addEventListener("reset", () => onReset());
  return source;
}
