// The typed API client, generated from the API's OpenAPI document (console/openapi.json): a
// changed endpoint breaks `tsc`, not the page.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Role = Schemas["Me"]["role"];

/** The header every request carries: the API refuses a state change by cookie without it. */
export const CSRF_HEADER = "X-Attune-CSRF";
/** Fired when the API answers 401: the session ended (expired, signed out elsewhere, key revoked). */
export const UNAUTHORIZED_EVENT = "attune:unauthorized";

export const api = createClient<paths>({ baseUrl: "", credentials: "same-origin" });

api.use({
  onRequest({ request }) {
    request.headers.set(CSRF_HEADER, "1");
    return request;
  },
  onResponse({ response, request }) {
    if (response.status === 401 && !new URL(request.url).pathname.startsWith("/auth/")) {
      window.dispatchEvent(new Event(UNAUTHORIZED_EVENT));
    }
    return response;
  },
});

/** An RFC 9457 problem from the API: `detail` is one sentence meant for people. */
export class ApiError extends Error {
  readonly status: number;
  readonly errors: { field: string; message: string }[];

  constructor(status: number, detail: string, errors: { field: string; message: string }[] = []) {
    super(detail);
    this.status = status;
    this.errors = errors;
  }
}

type Outcome<T> = { data?: T; error?: unknown; response: Response };

/** The body of a successful call, or an {@link ApiError} carrying the problem's detail. */
export async function call<T>(pending: Promise<Outcome<T>>): Promise<T> {
  let outcome: Outcome<T>;
  try {
    outcome = await pending;
  } catch {
    throw new ApiError(0, "The API cannot be reached. Check that it is running.");
  }
  const { data, error, response } = outcome;
  if (response.ok) return data as T;
  const problem = (error ?? {}) as { detail?: unknown; errors?: unknown };
  const detail = typeof problem.detail === "string" ? problem.detail : `${response.status} ${response.statusText}`;
  const errors = Array.isArray(problem.errors) ? (problem.errors as ApiError["errors"]) : [];
  throw new ApiError(response.status, detail, errors);
}

export const ROLES: readonly Role[] = ["viewer", "operator", "admin"];

/** Whether `role` includes `required` (viewer < operator < admin). */
export function allows(role: Role, required: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(required);
}
