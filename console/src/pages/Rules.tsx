import { useState, type FormEvent } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import { api, call, type Schemas } from "../api/client";
import { useQuery } from "../api/useQuery";
import { useSession } from "../session";
import { Filters, filterValue } from "../ui/Filters";
import { short } from "../ui/format";
import { cursor, ErrorNote, Fields, Json, ListBody, Loading, Page, Section, Status, Table, Time } from "../ui/widgets";

type Rule = Schemas["Rule"];
type Criterion = { type?: string; pattern?: unknown; condition?: string };

/** StackStorm criteria `{key: {type, pattern}}` as a table a person reads. */
export function CriteriaTable({ criteria }: { criteria: Record<string, unknown> }) {
  const entries = Object.entries(criteria) as [string, Criterion][];
  if (entries.length === 0) return <p className="muted">No criteria: every event of the trigger matches.</p>;
  return (
    <Table
      caption="Criteria"
      rows={entries}
      rowKey={([key]) => key}
      columns={[
        { title: "Field", cell: ([key]) => <code>{key}</code> },
        { title: "Operator", cell: ([, c]) => c.type ?? "—" },
        { title: "Pattern", cell: ([, c]) => <code>{short(c.pattern, 120)}</code>, className: "wide" },
      ]}
    />
  );
}

function EnableToggle({ rule, onChange }: { rule: Rule; onChange: (rule: Rule) => void }) {
  const { can } = useSession();
  const [error, setError] = useState<Error | undefined>();
  if (!can("operator")) return <Status value={rule.enabled ? "enabled" : "disabled"} />;
  async function toggle() {
    setError(undefined);
    const path = rule.enabled ? "/api/v1/rules/{ref}/disable" : "/api/v1/rules/{ref}/enable";
    try {
      onChange(await call(api.POST(path, { params: { path: { ref: rule.ref } } })));
    } catch (e) {
      setError(e as Error);
    }
  }
  return (
    <>
      <label className="switch">
        <input type="checkbox" role="switch" checked={rule.enabled} onChange={() => void toggle()} />
        <span>{rule.enabled ? "Enabled" : "Disabled"}</span>
        <span className="sr-only"> rule {rule.ref}</span>
      </label>
      <ErrorNote error={error} />
    </>
  );
}

export function Rules() {
  const [params] = useSearchParams();
  const query = {
    pack: filterValue(params, "pack"),
    ref: filterValue(params, "ref"),
    enabled: params.get("enabled") ? params.get("enabled") === "enabled" : undefined,
    before_id: cursor(params),
    limit: 100,
  };
  const list = useQuery(() => call(api.GET("/api/v1/rules", { params: { query } })), params.toString());
  const [changed, setChanged] = useState<Record<string, Rule>>({});
  return (
    <Page title="Rules">
      <Filters
        filters={[
          { name: "pack", label: "Pack", placeholder: "examples" },
          { name: "ref", label: "Ref", placeholder: "examples.*" },
          { name: "enabled", label: "State", kind: "select", options: ["enabled", "disabled"] },
        ]}
      />
      <ListBody list={list} empty="No rules match.">
        {(rows) => (
          <Table<Rule>
          caption="Rules"
          rows={rows.map((r) => changed[r.ref] ?? r)}
          rowKey={(r) => r.id}
          columns={[
            { title: "Rule", cell: (r) => <Link to={`/rules/${r.ref}`}>{r.ref}</Link> },
            { title: "When", cell: (r) => r.trigger_ref },
            { title: "Then", cell: (r) => r.action_ref },
            { title: "Criteria", cell: (r) => Object.keys(r.criteria).length || "none" },
            { title: "Enabled", cell: (r) => <EnableToggle rule={r} onChange={(n) => setChanged((c) => ({ ...c, [n.ref]: n }))} /> },
          ]}
        />
        )}
      </ListBody>
    </Page>
  );
}

export function RuleDetail() {
  const ref = useParams().ref ?? "";
  const rule = useQuery(() => call(api.GET("/api/v1/rules/{ref}", { params: { path: { ref } } })), ref);
  const [current, setCurrent] = useState<Rule | undefined>();
  const r = current ?? rule.data;
  if (!r) return rule.error ? <ErrorNote error={rule.error} /> : <Loading />;
  return (
    <Page title={`Rule ${r.ref}`} actions={<EnableToggle rule={r} onChange={setCurrent} />}>
      {r.description && <p className="lead">{r.description}</p>}
      <Section title="What it does">
        <Fields
          rows={[
            ["When", <>an event of <code>{r.trigger_ref}</code></>],
            ["Matches", Object.keys(r.criteria).length ? `${r.condition} of the criteria below` : "always"],
            ["Then runs", <Link to={`/actions/${r.action_ref}`}>{r.action_ref}</Link>],
            ["Pack", <Link to={`/packs/${r.pack_ref}`}>{r.pack_ref}</Link>],
            ["Updated", <Time iso={r.updated} />],
            ["History", <><Link to={`/enforcements?rule_ref=${r.ref}`}>enforcements</Link> · <Link to={`/executions?rule_ref=${r.ref}`}>executions</Link></>],
          ]}
        />
      </Section>
      <Section title="Criteria">
        <CriteriaTable criteria={r.criteria} />
      </Section>
      <Section title="Action parameters (templates)">
        <Json value={r.action_params} label="Action parameter templates" />
      </Section>
      {Object.keys(r.trigger_params).length > 0 && (
        <Section title="Trigger parameters">
          <Json value={r.trigger_params} label="Trigger parameters" />
        </Section>
      )}
      <RuleTest rule={r} />
    </Page>
  );
}

function RuleTest({ rule }: { rule: Rule }) {
  const [payload, setPayload] = useState("{\n  \n}");
  const [report, setReport] = useState<Schemas["RuleTrialOut"] | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch {
      setError("The payload is not valid JSON.");
      return;
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      setError("The payload must be a JSON object.");
      return;
    }
    try {
      setReport(
        await call(api.POST("/api/v1/rules/{ref}/test", { params: { path: { ref: rule.ref } }, body: { payload: parsed as Record<string, unknown> } })),
      );
    } catch (e) {
      setError((e as Error).message);
    }
  }

  return (
    <Section title="Test this rule against a payload">
      <form onSubmit={submit} className="rule-test">
        <label htmlFor="rule-test-payload">Trigger payload (JSON)</label>
        <textarea id="rule-test-payload" rows={6} spellCheck={false} value={payload} onChange={(e) => setPayload(e.target.value)} />
        <button type="submit">Test</button>
        <p className="hint">Nothing is stored and nothing runs: the rule is evaluated as the executor would.</p>
      </form>
      {error && <p role="alert" className="error">{error}</p>}
      {report && (
        <div className="rule-report" role="status">
          <p className={report.matched ? "verdict match" : "verdict no-match"}>
            {report.matched ? "Match: the rule would run " : "No match"}
            {report.matched && <code>{report.action_ref}</code>}
            {!report.matched && report.reason && `: ${report.reason}`}
          </p>
          {report.criteria.length > 0 && (
            <Table
              caption="Each criterion"
              rows={report.criteria}
              rowKey={(c) => c.key}
              columns={[
                { title: "Field", cell: (c) => <code>{c.key}</code> },
                { title: "Operator", cell: (c) => c.operator },
                { title: "Pattern", cell: (c) => <code>{short(c.pattern)}</code> },
                { title: "Value", cell: (c) => (c.found ? <code>{short(c.value)}</code> : "(missing)") },
                { title: "Outcome", cell: (c) => <Status value={c.outcome} /> },
                { title: "Why", cell: (c) => c.reason ?? "—" },
              ]}
            />
          )}
          {report.action_params && <Json value={report.action_params} label="Rendered action parameters" />}
          {report.parameters_error && <p className="error">Parameters: {String(report.parameters_error.field)}: {String(report.parameters_error.message)}</p>}
        </div>
      )}
    </Section>
  );
}
