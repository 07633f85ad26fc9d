// A workflow's tasks as a tree: one row per task execution (with-items: one per item), nested
// workflows opened on demand, each row's status live (the page reloads the tree on changes).
import { useEffect, useState } from "react";
import { Link } from "react-router";
import { api, call, type Schemas } from "../api/client";
import { useQuery } from "../api/useQuery";
import { duration } from "../ui/format";
import { FINISHED } from "../ui/statuses";
import { ErrorNote, Status, Time } from "../ui/widgets";

type Execution = Schemas["Execution"];

/** The tasks of workflow `id`; `version` changes when the page learns that something changed. */
export function TaskTree({ id, version }: { id: number; version: number }) {
  return (
    <div className="table-wrap" tabIndex={0} role="region" aria-label="Task tree">
      <table className="task-tree">
        <caption className="sr-only">The tasks of this workflow, in the order they started</caption>
        <thead>
          <tr>
            <th scope="col">Task</th>
            <th scope="col">Status</th>
            <th scope="col">Action</th>
            <th scope="col">Execution</th>
            <th scope="col">Started</th>
            <th scope="col">Took</th>
          </tr>
        </thead>
        <tbody>
          <Tasks parent={id} depth={0} version={version} />
        </tbody>
      </table>
    </div>
  );
}

function Tasks({ parent, depth, version }: { parent: number; depth: number; version: number }) {
  const children = useQuery(
    () => call(api.GET("/api/v1/executions/{id}/children", { params: { path: { id: parent } } })),
    String(parent),
  );
  // reloaded in place: rows (and the nested workflows opened) stay while the new answer comes
  const reload = children.reload;
  useEffect(() => {
    if (version > 0) reload();
  }, [version, reload]);
  const rows = children.data?.data;
  if (!rows) {
    return (
      <tr>
        <td colSpan={6} style={{ paddingLeft: `${depth * 1.5 + 0.5}rem` }}>
          {children.error ? <ErrorNote error={children.error} /> : <span className="muted">Loading…</span>}
        </td>
      </tr>
    );
  }
  if (rows.length === 0) {
    return (
      <tr>
        <td colSpan={6} className="muted" style={{ paddingLeft: `${depth * 1.5 + 0.5}rem` }}>
          No task has started yet.
        </td>
      </tr>
    );
  }
  return (
    <>
      {rows.map((task) => (
        <Task key={task.id} task={task} depth={depth} version={version} />
      ))}
      {children.data?.next && (
        <tr>
          <td colSpan={6} className="muted" style={{ paddingLeft: `${depth * 1.5 + 0.5}rem` }}>
            Only the first {rows.length} tasks are shown.
          </td>
        </tr>
      )}
    </>
  );
}

function Task({ task, depth, version }: { task: Execution; depth: number; version: number }) {
  const [open, setOpen] = useState(false);
  const name = `${task.task_name ?? task.action_ref}${task.task_item === null ? "" : ` [${task.task_item}]`}`;
  const nested = task.workflow_def !== null;
  return (
    <>
      <tr data-task={name}>
        <th scope="row" className="task-name" style={{ paddingLeft: `${depth * 1.5 + 0.5}rem` }}>
          {nested ? (
            <button
              type="button"
              className="link tree-toggle"
              aria-expanded={open}
              onClick={() => setOpen((o) => !o)}
              aria-label={`${open ? "Hide" : "Show"} the tasks of ${name}`}
            >
              <span aria-hidden="true">{open ? "▾" : "▸"}</span> {name}
            </button>
          ) : (
            name
          )}
        </th>
        <td>
          <Status value={task.status} />
        </td>
        <td>
          <code>{task.action_ref}</code>
        </td>
        <td>
          <Link to={`/executions/${task.id}`} aria-label={`execution #${task.id} (${name})`}>
            #{task.id}
          </Link>
          {task.status === "pending" && (
            <>
              {" "}
              <Link to={`/inquiries/${task.id}`} aria-label={`answer inquiry #${task.id}`}>
                answer
              </Link>
            </>
          )}
        </td>
        <td>
          <Time iso={task.started_at} />
        </td>
        <td>{FINISHED.has(task.status) ? duration(task.started_at ?? task.created, task.updated) : "—"}</td>
      </tr>
      {nested && open && <Tasks parent={task.id} depth={depth + 1} version={version} />}
    </>
  );
}
