import { useEffect, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { api, call, type Schemas } from "../api/client";
import { useStream, type ExecutionChange } from "../api/live";
import { useQuery, useThrottled } from "../api/useQuery";
import { useSession } from "../session";
import { SchemaForm } from "../ui/SchemaForm";
import { duration, short } from "../ui/format";
import { CANCELABLE, FINISHED, PAUSABLE, RESUMABLE } from "../ui/statuses";
import { TaskTree } from "./TaskTree";
import { ErrorNote, Fields, Json, Loading, Page, RefLink, Section, Status, Time } from "../ui/widgets";

type History = Schemas["HistoryEntry"];

export function ExecutionDetail() {
  const id = Number(useParams().id);
  const { can } = useSession();
  const navigate = useNavigate();
  const execution = useQuery(() => call(api.GET("/api/v1/executions/{id}", { params: { path: { id } } })), `x${id}`);
  const history = useQuery(
    () => call(api.GET("/api/v1/executions/{id}/history", { params: { path: { id }, query: { limit: 1000 } } })),
    `h${id}`,
  );
  // a workflow's tasks have larger ids than it: its page follows every change from its own id up
  // (the stream's messages do not name the parent), one execution's page only that execution
  const [treeVersion, setTreeVersion] = useState(0);
  const workflow = execution.data !== undefined && execution.data.workflow_def !== null;
  // a workflow paused at an ask task goes on when the inquiry is answered: Resume would not move it
  const paused = workflow && RESUMABLE.has(execution.data?.status ?? "");
  const asking = useQuery(
    () =>
      paused
        ? call(api.GET("/api/v1/inquiries", { params: { query: { parent: id, status: "pending" } } }))
        : Promise.resolve(null),
    `a${id}-${paused}`,
  );
  const inquiry = asking.data?.data[0];
  const refresh = useThrottled(() => {
    execution.reload();
    history.reload();
    asking.reload(); // a task may ask while the workflow is already pausing
    setTreeVersion((v) => v + 1);
  }, 300);
  const connected = useStream<ExecutionChange>(
    "executions",
    (change) => {
      if (change.execution_id >= id) refresh();
    },
    workflow ? {} : { execution_id: id },
  );
  // what changed while the stream was (re)connecting is read again once it is connected
  useEffect(() => {
    if (connected) refresh();
  }, [connected, refresh]);
  const [rerunning, setRerunning] = useState(false);
  const [actionError, setActionError] = useState<Error | undefined>();

  const x = execution.data;
  if (!x) return execution.error ? <ErrorNote error={execution.error} /> : <Loading />;

  async function control(request: "cancel" | "pause" | "resume") {
    setActionError(undefined);
    const path = { params: { path: { id } } };
    try {
      if (request === "cancel") await call(api.POST("/api/v1/executions/{id}/cancel", path));
      else if (request === "pause") await call(api.POST("/api/v1/executions/{id}/pause", path));
      else await call(api.POST("/api/v1/executions/{id}/resume", path));
      refresh();
    } catch (e) {
      setActionError(e as Error);
    }
  }

  const links = x.links;
  const result = (x.result ?? null) as Record<string, unknown> | null;
  const outputs = result ? (["stdout", "stderr"] as const).filter((k) => typeof result[k] === "string" && result[k]) : [];
  const rest = result ? Object.fromEntries(Object.entries(result).filter(([k]) => !outputs.includes(k as "stdout"))) : null;

  return (
    <Page
      title={
        <>
          Execution #{x.id} <Status value={x.status} />
        </>
      }
      actions={
        can("operator") && (
          <>
            {workflow && PAUSABLE.has(x.status) && (
              <button type="button" onClick={() => void control("pause")}>
                Pause
              </button>
            )}
            {workflow && RESUMABLE.has(x.status) && !inquiry && (
              <button type="button" onClick={() => void control("resume")}>
                Resume
              </button>
            )}
            {(CANCELABLE.has(x.status) || (workflow && RESUMABLE.has(x.status))) && (
              <button type="button" className="danger" onClick={() => void control("cancel")}>
                Cancel
              </button>
            )}
            <button type="button" onClick={() => setRerunning((r) => !r)} aria-expanded={rerunning}>
              Re-run…
            </button>
          </>
        )
      }
    >
      <ErrorNote error={actionError} />
      {x.status === "pending" && (
        <p className="notice">
          This execution asks a question and waits for the answer: <Link to={`/inquiries/${x.id}`}>answer inquiry #{x.id}</Link>.
        </p>
      )}
      {inquiry && (
        <p className="notice">
          This workflow waits for an answer: <Link to={`/inquiries/${inquiry.id}`}>answer inquiry #{inquiry.id}</Link>{" "}
          and it goes on.
        </p>
      )}
      {rerunning && <Rerun execution={x} onDone={(newId) => navigate(`/executions/${newId}`)} />}
      <div className="grid">
        <Section title="Summary">
          <Fields
            rows={[
              ["Action", <Link to={`/actions/${x.action_ref}`}>{x.action_ref}</Link>],
              ["Status", <Status value={x.status} />],
              ["Created", <Time iso={x.created} />],
              ["Started", <Time iso={x.started_at} />],
              ["Updated", <Time iso={x.updated} />],
              ["Took", FINISHED.has(x.status) ? duration(x.started_at ?? x.created, x.updated) : "—"],
              ["Worker", x.worker ? <Link to={`/workers#worker-${x.worker}`}>worker {x.worker}</Link> : "—"],
              ["Retries", `${x.retry_count} of ${x.max_retries}${x.retry_reason ? ` (${x.retry_reason})` : ""}`],
              ["Timeout", x.timeout_seconds ? `${x.timeout_seconds} s` : "action default"],
              ["Trace tag", x.trace_tag ?? "—"],
            ]}
          />
        </Section>
        <Section title="Caused by">
          <Fields
            rows={[
              ["Event", links.enforcement ? <Link to={`/events/${links.enforcement.event}`}>event #{links.enforcement.event}</Link> : "—"],
              ["Enforcement", <RefLink to={x.enforcement ? `/enforcements/${x.enforcement}` : null}>{x.enforcement ? `#${x.enforcement}` : "—"}</RefLink>],
              ["Rule", <RefLink to={x.rule_ref ? `/rules/${x.rule_ref}` : null}>{x.rule_ref ?? "— (run by hand)"}</RefLink>],
              ["Trigger", x.trigger_ref ?? "—"],
              ["Parent", links.parent ? <Link to={`/executions/${links.parent.id}`}>#{links.parent.id} {links.parent.action_ref}</Link> : "—"],
              ...(x.task_name ? ([["Workflow task", `${x.task_name}${x.task_item === null ? "" : ` [${x.task_item}]`}`]] as [string, string][]) : []),
              ["Re-run of", x.original_execution ? <Link to={`/executions/${x.original_execution}`}>#{x.original_execution}</Link> : "—"],
            ]}
          />
        </Section>
      </div>
      {workflow && (
        <Section title="Tasks">
          <TaskTree id={id} version={treeVersion} />
        </Section>
      )}
      <Section title="Parameters">
        <Json value={x.config} label="Parameters (secrets masked)" />
      </Section>
      <Section title="Result">
        {result === null ? (
          <p className="muted">No result yet.</p>
        ) : (
          <>
            {outputs.map((k) => (
              <div key={k}>
                <h3>{k}</h3>
                <pre className={`output ${k}`} tabIndex={0} aria-label={k}>
                  {String(result[k])}
                </pre>
              </div>
            ))}
            <Json value={rest} label="Result" />
          </>
        )}
      </Section>
      <Section title="History">
        <ErrorNote error={history.error} />
        {history.data && <Timeline entries={history.data.data} />}
      </Section>
    </Page>
  );
}

/** The status changes (and other tracked changes) of `execution_history`, oldest first. */
function Timeline({ entries }: { entries: History[] }) {
  const ordered = [...entries].reverse();
  return (
    <ol className="timeline" aria-label="Status timeline">
      {ordered.map((h) => {
        const status = h.changed_fields.includes("status") ? String(h.new_values.status) : null;
        const others = h.changed_fields.filter((f) => f !== "status");
        return (
          <li key={h.id} className={status ? "step" : "step minor"}>
            <Time iso={h.created} />{" "}
            {status ? <Status value={status} /> : <span className="muted">{h.operation.toLowerCase()}</span>}
            {others.length > 0 && (
              <span className="changes">
                {" "}
                {others.map((f) => `${f}: ${short(h.new_values[f], 60)}`).join(" · ")}
              </span>
            )}
          </li>
        );
      })}
    </ol>
  );
}

function Rerun({ execution, onDone }: { execution: Schemas["ExecutionDetail"]; onDone: (id: number) => void }) {
  const action = useQuery(
    () => call(api.GET("/api/v1/actions/{ref}", { params: { path: { ref: execution.action_ref } } })),
    execution.action_ref,
  );
  if (!action.data) return action.error ? <ErrorNote error={action.error} /> : <Loading />;
  return (
    <Section title="Re-run with these parameters">
      <p className="hint">Only the fields you change are sent; the others, secrets included, stay as they were.</p>
      <SchemaForm
        schema={action.data.parameters_schema}
        initial={execution.config}
        onlyChanged
        submitLabel="Re-run"
        onSubmit={async (parameters) => {
          const created = await call(
            api.POST("/api/v1/executions/{id}/rerun", { params: { path: { id: execution.id } }, body: { parameters } }),
          );
          onDone(created.id);
        }}
      />
    </Section>
  );
}
