import { useCallback, useEffect, useRef, useState } from "react";

export type Query<T> = {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  /** Fetch again, keeping the current data on screen until the new one arrives. */
  reload: () => void;
};

/** Runs `load` when `key` changes (and on `reload`); only the latest answer is kept. */
export function useQuery<T>(load: () => Promise<T>, key: string): Query<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const latest = useRef(0);
  const loader = useRef(load);
  loader.current = load;

  const run = useCallback(() => {
    const ticket = ++latest.current;
    setState((s) => ({ ...s, loading: true }));
    loader.current().then(
      (data) => ticket === latest.current && setState({ data, loading: false }),
      (error: Error) => ticket === latest.current && setState((s) => ({ data: s.data, error, loading: false })),
    );
  }, []);

  useEffect(() => {
    setState({ loading: true });
    run();
  }, [key, run]);

  return { data: state.data, error: state.error, loading: state.loading, reload: run };
}

/** `fn` at most once per `ms`, trailing (for bursts of live messages). */
export function useThrottled(fn: () => void, ms: number): () => void {
  const timer = useRef<number | undefined>(undefined);
  const target = useRef(fn);
  target.current = fn;
  useEffect(() => () => window.clearTimeout(timer.current), []);
  return useCallback(() => {
    if (timer.current !== undefined) return;
    timer.current = window.setTimeout(() => {
      timer.current = undefined;
      target.current();
    }, ms);
  }, [ms]);
}
