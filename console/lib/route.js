/**
 * Where the operator is: the part of the URL after `#`, like `#/jobs?status=failed` or
 * `#/jobs/<id>`. Filters live in the URL, so a view can be bookmarked, shared and reloaded, and
 * Back works. (Never a token: sign-in takes it out of the URL at once.)
 */
import { useEffect, useState } from "../vendor/preact-htm.mjs";

export function parseRoute(hash = location.hash) {
  const [path, q = ""] = hash.replace(/^#\/?/, "").split("?");
  const [panel = "overview", ...rest] = path.split("/").filter(Boolean);
  return { panel, rest, params: Object.fromEntries(new URLSearchParams(q)) };
}

export function href(panel, params = {}) {
  const q = new URLSearchParams(
    Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""),
  ).toString();
  return `#/${panel}${q ? `?${q}` : ""}`;
}

export function navigate(panel, params) {
  location.hash = href(panel, params);
}

export function useRoute() {
  const [route, setRoute] = useState(parseRoute());
  useEffect(() => {
    const onChange = () => setRoute(parseRoute());
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return route;
}
