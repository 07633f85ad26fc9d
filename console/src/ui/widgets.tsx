import type { ReactNode } from "react";
import { Link, useSearchParams } from "react-router";
import type { Query } from "../api/useQuery";
import { ago, formatTime, json } from "./format";

export function Page({ title, actions, children }: { title: ReactNode; actions?: ReactNode; children: ReactNode }) {
  return (
    <>
      <header className="page-head">
        <h1>{title}</h1>
        {actions && <div className="page-actions">{actions}</div>}
      </header>
      {children}
    </>
  );
}

export function Section({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  const id = `section-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return (
    <section className="card" aria-labelledby={id}>
      <div className="section-head">
        <h2 id={id}>{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  );
}

const STATUS_TONE: Record<string, string> = {
  completed: "ok",
  matched: "ok",
  enabled: "ok",
  skipped: "muted",
  processed: "ok",
  active: "ok",
  failed: "bad",
  timeout: "bad",
  abandoned: "bad",
  error: "bad",
  cancelled: "muted",
  disabled: "muted",
  inactive: "muted",
  canceling: "warn",
  paused: "warn",
  pausing: "run",
  resuming: "run",
  running: "run",
  busy: "run",
  starting: "run",
  backoff: "warn",
  stopped: "muted",
  responded: "ok",
};

export function Status({ value }: { value: string }) {
  return <span className={`status status-${STATUS_TONE[value] ?? "wait"}`}>{value}</span>;
}

export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span>—</span>;
  return (
    <time dateTime={iso} title={ago(iso)}>
      {formatTime(iso)}
    </time>
  );
}

export function Json({ value, label }: { value: unknown; label: string }) {
  return (
    <pre className="json" tabIndex={0} aria-label={label}>
      {json(value)}
    </pre>
  );
}

export function Fields({ rows }: { rows: [string, ReactNode][] }) {
  return (
    <dl className="fields">
      {rows.map(([name, value]) => (
        <div key={name}>
          <dt>{name}</dt>
          <dd>{value ?? "—"}</dd>
        </div>
      ))}
    </dl>
  );
}

export function Loading() {
  return (
    <p className="loading" role="status">
      Loading…
    </p>
  );
}

export function ErrorNote({ error }: { error: Error | undefined }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {error.message}
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export type Column<T> = { title: string; cell: (row: T) => ReactNode; className?: string };

/** A table that scrolls sideways on narrow screens (focusable, so the keyboard can scroll it). */
export function Table<T>({
  caption,
  rows,
  columns,
  rowKey,
}: {
  caption: string;
  rows: T[];
  columns: Column<T>[];
  rowKey: (row: T) => string | number;
}) {
  return (
    <div className="table-wrap" tabIndex={0} role="region" aria-label={caption}>
      <table>
        <caption className="sr-only">{caption}</caption>
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c.title} scope="col" className={c.className}>
                {c.title}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={rowKey(row)}>
              {columns.map((c) => (
                <td key={c.title} className={c.className}>
                  {c.cell(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

type Cursor = number | string | null | undefined;

/** Cursor pagination: the cursor (`param`, `before_id` for the API's id-ordered lists) is in the
 * address, so a page can be linked and Back goes to the previous one. */
export function Pager({ next, param = "before_id" }: { next: Cursor; param?: string }) {
  const [params] = useSearchParams();
  const first = new URLSearchParams(params);
  first.delete(param);
  const following = new URLSearchParams(params);
  if (next) following.set(param, String(next));
  return (
    <nav className="pager" aria-label="Pages">
      {params.has(param) && <Link to={`?${first.toString()}`}>First page</Link>}
      {next ? <Link to={`?${following.toString()}`}>Next page</Link> : <span className="muted">End of list</span>}
    </nav>
  );
}

/** Links to rows by id or ref, or a dash when the target is unknown. */
export function RefLink({ to, children }: { to: string | null; children: ReactNode }) {
  return to ? <Link to={to}>{children}</Link> : <span>{children ?? "—"}</span>;
}

export function LiveBadge({ connected }: { connected: boolean }) {
  return (
    <span className={`live ${connected ? "on" : "off"}`} role="status">
      {connected ? "Live" : "Reconnecting…"}
    </span>
  );
}

type Listing<T> = Query<{ data: T[]; next?: Cursor }>;

/** A list page's body: its error, loading and empty states, the rows, and the pager. */
export function ListBody<T>({
  list,
  empty,
  children,
  cursorParam,
}: {
  list: Listing<T>;
  empty: string;
  children: (rows: T[]) => ReactNode;
  cursorParam?: string;
}) {
  const rows = list.data?.data;
  return (
    <>
      <ErrorNote error={list.error} />
      {!rows && list.loading && <Loading />}
      {rows && rows.length === 0 && <Empty>{empty}</Empty>}
      {rows && rows.length > 0 && children(rows)}
      {list.data && <Pager next={list.data.next} param={cursorParam} />}
    </>
  );
}

/** The page cursor in the address (`before_id`), for the API. */
export function cursor(params: URLSearchParams): number | undefined {
  const value = params.get("before_id");
  return value ? Number(value) : undefined;
}
