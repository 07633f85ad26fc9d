// Live updates from the API's server-sent event streams. The session cookie authenticates them
// (same origin); EventSource reconnects by itself with Last-Event-ID, and the API replays.
import { useEffect, useRef, useState } from "react";

export type StreamName = "executions" | "events" | "enforcements";
const EVENT_NAMES: Record<StreamName, string> = {
  executions: "execution",
  events: "event",
  enforcements: "enforcement",
};

export type ExecutionChange = {
  execution_id: number;
  action_ref: string;
  old_status: string | null;
  new_status: string;
  at: string;
};

/**
 * Calls `onMessage` with each message of a stream while the component is mounted; returns
 * whether the stream is connected.
 */
export function useStream<T>(
  stream: StreamName,
  onMessage: (data: T) => void,
  query: Record<string, string | number | undefined> = {},
): boolean {
  const [connected, setConnected] = useState(false);
  const handler = useRef(onMessage);
  handler.current = onMessage;
  const search = new URLSearchParams(
    Object.entries(query).filter((entry): entry is [string, string | number] => entry[1] !== undefined)
      .map(([k, v]) => [k, String(v)]),
  ).toString();

  useEffect(() => {
    const source = new EventSource(`/api/v1/${stream}/stream${search ? `?${search}` : ""}`);
    const receive = (message: MessageEvent<string>) => handler.current(JSON.parse(message.data) as T);
    source.addEventListener(EVENT_NAMES[stream], receive);
    source.addEventListener("snapshot", receive);
    source.onopen = () => setConnected(true);
    source.onerror = () => setConnected(false);
    return () => source.close();
  }, [stream, search]);
  return connected;
}
