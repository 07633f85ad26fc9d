// Inquiries (StackStorm's core.ask): the questions workflows ask people, and a form generated from
// each one's response schema to answer it. An inquiry's id is its execution's id.
import { useEffect, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import { allows, api, ApiError, call, ROLES, type Role, type Schemas } from "../api/client";
import { useStream } from "../api/live";
import { useQuery, useThrottled } from "../api/useQuery";
import { useSession } from "../session";
import { SchemaForm } from "../ui/SchemaForm";
import { INQUIRY_STATUSES } from "../ui/statuses";
import { cursor, ErrorNote, Fields, Json, ListBody, LiveBadge, Loading, Page, Section, Status, Table, Time } from "../ui/widgets";

type Inquiry = Schemas["InquiryOut"];
type Status = Inquiry["status"];

const STATUS_LABELS: Record<Status, string> = {
  pending: "Pending",
  responded: "Responded",
  timeout: "Timed out",
  cancelled: "Cancelled",
};

export function Inquiries() {
  const [params, setParams] = useSearchParams();
  const status = (INQUIRY_STATUSES as readonly string[]).includes(params.get("status") ?? "")
    ? (params.get("status") as Status)
    : "pending";
  const list = useQuery(
    () => call(api.GET("/api/v1/inquiries", { params: { query: { status, before_id: cursor(params), limit: 100 } } })),
    params.toString(),
  );
  // an inquiry opens when its execution turns pending and closes when it leaves pending
  const refresh = useThrottled(list.reload, 300);
  const connected = useStream<{ old_status: string | null; new_status: string }>("executions", (change) => {
    if (change.new_status === "pending" || change.old_status === "pending") refresh();
  });
  useEffect(() => {
    if (connected) refresh();
  }, [connected, refresh]);
  return (
    <Page title="Inquiries" actions={<LiveBadge connected={connected} />}>
      <p className="lead">
        Questions workflows ask people (<code>core.ask</code>): the execution waits <em>pending</em>, and its workflow
        pauses, until someone answers or the time to answer runs out.
      </p>
      <div className="window" role="group" aria-label="Status">
        {INQUIRY_STATUSES.map((s) => (
          <button key={s} type="button" aria-pressed={s === status} onClick={() => setParams({ status: s })}>
            {STATUS_LABELS[s]}
          </button>
        ))}
      </div>
      <ListBody list={list} empty={`No ${STATUS_LABELS[status].toLowerCase()} inquiries.`}>
        {(rows) => (
          <Table<Inquiry>
            caption={`${STATUS_LABELS[status]} inquiries`}
            rows={rows}
            rowKey={(i) => i.id}
            columns={[
              { title: "Inquiry", cell: (i) => <Link to={`/inquiries/${i.id}`}>#{i.id}</Link> },
              { title: "Status", cell: (i) => <Status value={i.status} /> },
              { title: "Asked by", cell: (i) => (i.parent ? <Link to={`/executions/${i.parent}`}>workflow #{i.parent}</Link> : i.action_ref) },
              { title: "Route", cell: (i) => i.route || "—" },
              { title: "For", cell: (i) => audience(i) },
              { title: "Asked", cell: (i) => <Time iso={i.created} /> },
              {
                title: status === "pending" ? "Times out" : "Answered",
                cell: (i) =>
                  status === "pending" ? (
                    i.timeout_at ? <Time iso={i.timeout_at} /> : "never"
                  ) : (
                    <>
                      <Time iso={i.responded_at} /> {i.responded_by ? `by ${i.responded_by}` : ""}
                    </>
                  ),
              },
            ]}
          />
        )}
      </ListBody>
    </Page>
  );
}

/** Who may answer, as the API decides it. */
function audience(i: Inquiry): string {
  const parts = [i.users.length ? `users ${i.users.join(", ")}` : "", i.roles.length ? `roles ${i.roles.join(", ")}` : ""];
  return parts.filter(Boolean).join("; ") || "operators";
}

/** The API's rule (attune_shared.inquiries.may_respond): an inquiry naming users is for them, one
 * naming roles for a role that includes one of them, one naming neither for operators. */
function mayRespond(i: Inquiry, login: string, role: Role): boolean {
  if (i.users.length && !i.users.includes(login)) return false;
  if (i.roles.length) return i.roles.some((r) => (ROLES as readonly string[]).includes(r) && allows(role, r as Role));
  return i.users.length > 0 || allows(role, "operator");
}

export function InquiryDetail() {
  const id = Number(useParams().id);
  const { me } = useSession();
  const inquiry = useQuery(() => call(api.GET("/api/v1/inquiries/{id}", { params: { path: { id } } })), `i${id}`);
  const refresh = useThrottled(inquiry.reload, 300);
  useStream("executions", refresh, { execution_id: id });
  // why the form went away: answered, timed out or cancelled while it was open
  const [closed, setClosed] = useState<Error | undefined>();
  const i = inquiry.data;
  if (!i) return inquiry.error ? <ErrorNote error={inquiry.error} /> : <Loading />;
  const allowed = me !== null && mayRespond(i, me.login, me.role);

  return (
    <Page
      title={
        <>
          Inquiry #{i.id} <Status value={i.status} />
        </>
      }
    >
      <ErrorNote error={closed} />
      <div className="grid">
        {i.status === "pending" && (
          <Section title="Respond">
            {allowed ? (
              <SchemaForm
                schema={i.schema}
                submitLabel="Send response"
                errorPrefix="response"
                emptyNote="The response schema asks for nothing: sending answers the inquiry."
                onSubmit={async (response) => {
                  try {
                    await call(api.POST("/api/v1/inquiries/{id}/respond", { params: { path: { id } }, body: { response } }));
                  } catch (e) {
                    // answered, timed out or cancelled meanwhile: show what it is now
                    if (e instanceof ApiError && e.status === 409) {
                      setClosed(e);
                      inquiry.reload();
                    }
                    throw e;
                  }
                  inquiry.reload();
                }}
              />
            ) : (
              <p className="muted">
                Only {audience(i)} may answer this inquiry; you are {me?.login} ({me?.role}).
              </p>
            )}
          </Section>
        )}
        <Section title="Summary">
          <Fields
            rows={[
              ["Status", <Status value={i.status} />],
              ["Execution", <Link to={`/executions/${i.id}`}>#{i.id} {i.action_ref}</Link>],
              ["Workflow", i.parent ? <Link to={`/executions/${i.parent}`}>#{i.parent}</Link> : "— (asked on its own)"],
              ["Route", i.route || "—"],
              ["May answer", audience(i)],
              ["Asked", <Time iso={i.created} />],
              ["Times out", i.timeout_at ? <Time iso={i.timeout_at} /> : "never"],
              ["Answered", i.responded_at ? <><Time iso={i.responded_at} /> by {i.responded_by ?? "—"}</> : "—"],
            ]}
          />
        </Section>
      </div>
      {i.response && (
        <Section title="Response">
          <Json value={i.response} label="Response (JSON)" />
        </Section>
      )}
      <Section title="Response schema">
        <Json value={i.schema} label="Response schema" />
      </Section>
    </Page>
  );
}
