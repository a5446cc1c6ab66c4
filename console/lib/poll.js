/**
 * Data for a panel, fetched now and again every `everyMs` while the tab is visible: a hidden tab
 * asks nothing (console-api allows each operator 100 requests a minute, shared by every tab), and
 * coming back fetches at once. Only the panel on screen is mounted, so only it polls.
 */
import { useCallback, useEffect, useRef, useState } from "../vendor/preact-htm.mjs";
import { usePager } from "./ui.js";

export function usePoll(load, deps, everyMs = 10_000) {
  const [state, setState] = useState({ data: undefined, error: undefined, loading: true });
  const seq = useRef(0);
  const refresh = useCallback(async () => {
    const mine = ++seq.current;
    try {
      const data = await load();
      if (mine === seq.current) setState({ data, error: undefined, loading: false });
    } catch (error) {
      // Keep the last good data on screen beside the error.
      if (mine === seq.current) setState((s) => ({ data: s.data, error, loading: false }));
    }
  }, deps);
  const asked = useRef(refresh);
  useEffect(() => {
    // New deps ask another question: the previous answer is not its answer.
    if (asked.current !== refresh) setState({ data: undefined, error: undefined, loading: true });
    asked.current = refresh;
    refresh();
    if (!everyMs) return () => seq.current++;
    let timer;
    const schedule = () => {
      clearInterval(timer);
      if (!document.hidden) timer = setInterval(refresh, everyMs);
    };
    const onVisibility = () => {
      if (!document.hidden) refresh();
      schedule();
    };
    schedule();
    document.addEventListener("visibilitychange", onVisibility);
    return () => {
      seq.current++;
      clearInterval(timer);
      document.removeEventListener("visibilitychange", onVisibility);
    };
  }, [refresh, everyMs]);
  return { ...state, refresh };
}

/** A keyset-paged list: the page on screen, polled, and its pager (for <Pager>). */
export function usePagedPoll(api, path, limit, everyMs) {
  const pager = usePager();
  const poll = usePoll(
    () => api.get(path, { cursor: pager.cursor, limit }),
    [pager.cursor],
    everyMs,
  );
  return { pager, poll };
}
